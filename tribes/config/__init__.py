"""Cluster configuration: Tomcat's ``server.xml`` ``<Cluster>`` as Python objects.

- :func:`load` / :func:`loads` read a server.xml (tribes.config.loader);
- :class:`ClusterConfig` and the element classes are the same configuration as a Python API
  (tribes.config.model), with Tomcat's defaults and types (tribes.config._tomcat_specs, generated
  from the Tomcat jars);
- :mod:`tribes.config.registry` maps every className to its Python implementation or says why not;
- :func:`tribes.config.build.build_channel` wires a configuration to the channel classes.

Documentation: docs/configuration.md.
"""
from tribes.config.errors import ConfigError, Problem
from tribes.config.loader import load, loads, replace_properties
from tribes.config.model import (
    ENGINE,
    HOST,
    Channel,
    ClusterConfig,
    ClusterListener,
    Deployer,
    Element,
    Interceptor,
    Manager,
    Member,
    Membership,
    Receiver,
    Sender,
    SessionIdGenerator,
    Transport,
    Valve,
)

__all__ = [
    "ConfigError", "Problem", "load", "loads", "replace_properties", "ENGINE", "HOST", "Channel",
    "ClusterConfig", "ClusterListener", "Deployer", "Element", "Interceptor", "Manager", "Member",
    "Membership", "Receiver", "Sender", "SessionIdGenerator", "Transport", "Valve",
]
