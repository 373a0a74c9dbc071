"""The application: app factory, configuration, database, API, pipeline, queues, CLI and runtime."""
