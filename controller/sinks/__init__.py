"""Status sinks: adapters of the StatusSink port (`controller.ports`)."""
