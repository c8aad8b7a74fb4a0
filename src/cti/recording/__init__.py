"""Call recording: MixMonitor on answer, pause/resume, verified files linked to calls and cases."""
