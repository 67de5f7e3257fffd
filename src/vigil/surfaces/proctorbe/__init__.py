"""The ProctorBE contract (../shared/contracts/proctorbe.md), served at the root path."""
