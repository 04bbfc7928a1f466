"""Composition: which executor, sink and source an environment gets, the lock that keeps one
controller per environment, the paths the controller uses, the commit cadence."""
