"""The real-Tomcat test bed: Java peer, Tomcat node scripts, network-namespace lab."""
