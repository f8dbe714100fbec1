"""Real Tomcat 10.1 / 9.0 cluster nodes in lab namespaces (see node.py and interop/README.md)."""
