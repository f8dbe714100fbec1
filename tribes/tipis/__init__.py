"""Replicated maps (Tomcat's org.apache.catalina.tribes.tipis): AbstractReplicatedMap / LazyReplicatedMap.

Layer: above ``tribes.group`` (channel, RpcChannel), below ``tribes.managers`` (BackupManager).

* ``tribes.tipis.map_message``: the ``AbstractReplicatedMap$MapMessage`` codec (MemberImpl of 9.0 and 10.1).
* ``tribes.tipis.replicated_map``: the sans-I/O core (entries, roles, member rules, replies).
* ``tribes.tipis.lazy_map``: ``LazyReplicatedMap``, the asyncio driver over a GroupChannel + RpcChannel.
"""
