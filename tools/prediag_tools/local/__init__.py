"""The local stack: the template's event-driven topology on 127.0.0.1, without Docker or AWS.

- `provision(template_path, endpoint_url, parameters)` creates the template's resources in a
  moto server and resolves outputs, function environments and triggers (`Provisioned`).
- `LocalStack` runs moto + provisioned resources + the API + the SQS/stream pollers.
- `MotoServer` runs `python -m moto.server` on 127.0.0.1 as a child process.
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
from prediag_tools.local.stack import LocalStack, runtime_env

__all__ = [
    "ApiRoute",
    "FunctionSpec",
    "LocalStack",
    "MotoServer",
    "Provisioned",
    "SqsMapping",
    "StreamMapping",
    "free_port",
    "provision",
    "runtime_env",
]
