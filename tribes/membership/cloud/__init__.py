"""Cloud membership (Tomcat's ``org.apache.catalina.tribes.membership.cloud``): DNS and Kubernetes.

* :mod:`.core`: the pure heartbeat (answers + time -> member events), uniqueIds as Tomcat computes them;
* :mod:`.dns`: ``DNSMembershipProvider`` (A/AAAA records, dnspython's asyncio resolver);
* :mod:`.kubernetes`: ``KubernetesMembershipProvider`` (pods list over HTTPS, httpx);
* :mod:`.env`: the environment variables Tomcat reads;
* :mod:`.service`: ``CloudMembershipService``, the asyncio shell every channel plugs in.
"""
from tribes.membership.cloud.core import INITIAL_ID, CloudFetchError, CloudMembership, Discovery, java_host_address, md5_id
from tribes.membership.cloud.service import (
    DNS_PROVIDER_CLASS, KUBE_PROVIDER_CLASS, CloudConfigError, CloudMembershipProvider, CloudMembershipService,
)

__all__ = [
    "CloudMembershipService", "CloudMembershipProvider", "CloudConfigError", "CloudFetchError", "CloudMembership",
    "Discovery", "INITIAL_ID", "md5_id", "java_host_address", "KUBE_PROVIDER_CLASS", "DNS_PROVIDER_CLASS",
]
