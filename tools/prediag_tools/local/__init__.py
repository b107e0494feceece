"""The local stack: the template's event-driven topology on 127.0.0.1, without Docker or AWS.

- `provision(template_path, endpoint_url, parameters)` creates the template's resources in a
  moto server and resolves outputs, function environments and triggers (`Provisioned`).
- `LocalStack` runs moto + provisioned resources + the API + Lambda's API + the SQS/stream
  pollers, each function in worker processes of its own (`FunctionPool`).
- `MotoServer` runs `python -m moto.server` on 127.0.0.1 as a child process.

No child process outlives the stack (see `processes`).
"""

from prediag_tools.local.moto_server import MotoServer, free_port
from prediag_tools.local.provision import (
    ApiRoute,
    FunctionSpec,
    Provisioned,
    SqsMapping,
    StreamMapping,
    provision,
)
from prediag_tools.local.stack import LocalStack, function_env
from prediag_tools.local.workers import FunctionPool

__all__ = [
    "ApiRoute",
    "FunctionPool",
    "FunctionSpec",
    "LocalStack",
    "MotoServer",
    "Provisioned",
    "SqsMapping",
    "StreamMapping",
    "free_port",
    "function_env",
    "provision",
]
