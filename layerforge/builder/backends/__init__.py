"""Build backends: where pip (or uv) runs and the bytecode is compiled: ``cross`` on this host,
``docker`` inside the runtime's image."""
