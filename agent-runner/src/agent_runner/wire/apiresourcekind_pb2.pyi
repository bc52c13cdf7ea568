from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ApiResourceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    api_resource_kind_unknown: _ClassVar[ApiResourceKind]
    api_resource_version: _ClassVar[ApiResourceKind]
    iam_policy: _ClassVar[ApiResourceKind]
    identity_account: _ClassVar[ApiResourceKind]
    api_key: _ClassVar[ApiResourceKind]
    credential: _ClassVar[ApiResourceKind]
    organization: _ClassVar[ApiResourceKind]
    platform: _ClassVar[ApiResourceKind]
    agent: _ClassVar[ApiResourceKind]
    agent_execution: _ClassVar[ApiResourceKind]
    session: _ClassVar[ApiResourceKind]
    skill: _ClassVar[ApiResourceKind]
    mcp_server: _ClassVar[ApiResourceKind]
    agent_instance: _ClassVar[ApiResourceKind]
    workflow: _ClassVar[ApiResourceKind]
    workflow_instance: _ClassVar[ApiResourceKind]
    workflow_execution: _ClassVar[ApiResourceKind]
    environment: _ClassVar[ApiResourceKind]
    execution_context: _ClassVar[ApiResourceKind]
api_resource_kind_unknown: ApiResourceKind
api_resource_version: ApiResourceKind
iam_policy: ApiResourceKind
identity_account: ApiResourceKind
api_key: ApiResourceKind
credential: ApiResourceKind
organization: ApiResourceKind
platform: ApiResourceKind
agent: ApiResourceKind
agent_execution: ApiResourceKind
session: ApiResourceKind
skill: ApiResourceKind
mcp_server: ApiResourceKind
agent_instance: ApiResourceKind
workflow: ApiResourceKind
workflow_instance: ApiResourceKind
workflow_execution: ApiResourceKind
environment: ApiResourceKind
execution_context: ApiResourceKind
