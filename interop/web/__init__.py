"""The web lab: Apache httpd (mod_proxy_balancer, sticky by jvmRoute) in front of real Tomcat nodes and
a Python web app, and a headless Chromium driven by selenium, all inside a namespace lab.

- :mod:`interop.web.httpd`: ``Httpd`` -- the generated httpd.conf and a by-hand httpd process.
- :mod:`interop.web.chrome`: ``LabChrome`` -- Debian's chromium + chromedriver inside a lab namespace.
"""
