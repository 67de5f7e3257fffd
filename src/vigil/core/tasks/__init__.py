"""Practical tasks (ExamManager): tasks, the students they are given to, and the virtual
machines a student runs to do them."""
