"""The ExamManager contract (../shared/contracts/exammanager-api.md, docs/exammanager.md)."""
