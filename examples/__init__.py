"""Example web apps sharing Tomcat sessions (see examples/README.md)."""
