"""Trial executors: adapters of the TrialExecutor port (`controller.ports`), independent of each
other."""
