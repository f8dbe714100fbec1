"""``GenericPrincipal`` as it travels: ``GenericPrincipal$SerializablePrincipal`` (writeReplace).

9.0 has a ``password`` field; 10.1+ does not. Either reads the other's stream (a missing field is
null, an unknown one is skipped), but 9.0's readResolve needs non-null ``roles``, so roles are
always written (an empty String[] when there are none).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tribes.javaser import ClassDesc, JavaArray, JavaObject

CLASS_NAME = "org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal"

_FIELDS_10 = {"name": "Ljava/lang/String;", "roles": "[Ljava/lang/String;",
              "principal": "Ljava/security/Principal;", "attributes": "Ljava/util/Map;"}
_FIELDS_9 = dict(_FIELDS_10, password="Ljava/lang/String;")
DESC_10 = ClassDesc.make(CLASS_NAME, 1, _FIELDS_10)
DESC_9 = ClassDesc.make(CLASS_NAME, 1, _FIELDS_9)


def tomcat_major(version: str | int) -> int:
    """9 or 10 from "9.0", "9.0.70", 9, "10.1", 10, "11.0" (11+ behave like 10.1 here)."""
    major = int(str(version).split(".")[0])
    if major < 9:
        raise ValueError(f"unsupported Tomcat version {version!r}")
    return 9 if major == 9 else 10


@dataclass(eq=False)
class Principal:
    """A user as Tomcat replicates it. ``raw`` keeps a principal read from the wire byte-exact."""

    name: str
    roles: list[str] = field(default_factory=list)
    password: str | None = None
    attributes: Any = None
    user_principal: Any = None
    raw: JavaObject | None = field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Principal) and other.name == self.name and sorted(other.roles) == sorted(self.roles))

    def to_java(self, version: str | int = "10.1") -> JavaObject:
        if self.raw is not None:
            return self.raw
        fields: dict[str, Any] = {"name": self.name,
                                  "roles": JavaArray("[Ljava.lang.String;", list(self.roles)),
                                  "principal": self.user_principal, "attributes": self.attributes}
        if tomcat_major(version) == 9:
            fields["password"] = self.password
            return JavaObject.new(DESC_9, fields)
        return JavaObject.new(DESC_10, fields)

    @classmethod
    def from_java(cls, obj: Any) -> "Principal | Any":
        """A Principal for a SerializablePrincipal; any other value is returned unchanged."""
        if not isinstance(obj, JavaObject) or obj.class_name != CLASS_NAME:
            return obj
        f = obj.fields
        roles_v = f.get("roles")
        roles = [str(r) for r in roles_v] if roles_v is not None else []
        name = f.get("name")
        return cls(str(name) if name is not None else "", roles, f.get("password"), f.get("attributes"),
                   f.get("principal"), raw=obj)


def principal_name(p: Any) -> str | None:
    if p is None:
        return None
    if isinstance(p, Principal):
        return p.name
    if isinstance(p, JavaObject):
        n = p.get("name")
        return str(n) if n is not None else None
    return str(p)


def principal_to_java(p: Any, version: str | int = "10.1") -> Any:
    return p.to_java(version) if isinstance(p, Principal) else p


__all__ = ["Principal", "principal_name", "principal_to_java", "tomcat_major", "DESC_9", "DESC_10"]
