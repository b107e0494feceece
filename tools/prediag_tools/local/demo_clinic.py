"""The demo clinic of the local stack: `clinic-lyon-01`, the clinic the sample requests
(events/request-*.json), the README's examples and the banner's vet token name.

A case may name a clinic only once it is registered, so `make run` registers this one when it
provisions the stack (idempotent: a clinic already registered is left as it is).
"""

from __future__ import annotations

from prediag import clinics
from prediag.clinic_registry import DynamoClinics
from prediag.clinics import Clinic, NewClinic
from prediag.errors import ConflictError
from prediag_tools.local.aws import client
from prediag_tools.local.provision import Provisioned

DEMO_CLINIC_ID = "clinic-lyon-01"
DEMO_CLINIC_NAME = "Clinique vétérinaire de Lyon (demo)"


def seed_demo_clinic(provisioned: Provisioned) -> Clinic | None:
    """Register the demo clinic in the stack's clinics table; None when the template has none."""
    table = provisioned.outputs.get("ClinicsTableName")
    if not table:
        return None
    directory = DynamoClinics(
        str(table), client("dynamodb", provisioned.endpoint_url, provisioned.region)
    )
    try:
        return clinics.register(
            directory, NewClinic(clinic_id=DEMO_CLINIC_ID, name=DEMO_CLINIC_NAME)
        )
    except ConflictError as exc:
        return exc.current if isinstance(exc.current, Clinic) else None
