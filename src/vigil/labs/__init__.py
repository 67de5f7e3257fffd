"""Virtual machines for practical tasks (ExamManager): one driver per hypervisor."""
