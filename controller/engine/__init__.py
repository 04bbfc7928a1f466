"""The engine: applies the core's decisions through the ports (`controller.ports`), never through
an adapter it names."""
