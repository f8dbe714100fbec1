"""Stand-ins for cloud membership tests: a test CA, a Kubernetes API server, dnsmasq and per-namespace files.

* :mod:`.certs`: a CA and server/client certificates made with ``cryptography`` (IP subjectAltName);
* :mod:`.kube_api`: a stand-in Kubernetes API server (pods list, label selector, bearer token, HTTPS);
* :mod:`.dnsmasq`: Debian's ``dnsmasq`` run by hand with an ``--addn-hosts`` file;
* :mod:`.netns_files`: ``/etc/netns/<ns>/hosts`` and ``resolv.conf`` (mounted by ``ip netns exec``).
"""
