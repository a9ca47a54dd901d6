from __future__ import annotations

import pytest

from airflow_provider_aep.catalog import (
    DATASET_EXPORT_DESTINATIONS,
    DESTINATIONS,
    SEGMENT_DESTINATIONS,
    all_flow_specs,
    connection_spec,
    find_destination,
    get_destination,
)
from airflow_provider_aep.exceptions import AEPValidationError


def test_six_export_and_seven_activation_destinations():
    assert set(DATASET_EXPORT_DESTINATIONS) == {
        "amazon_s3",
        "azure_blob",
        "adls_gen2",
        "data_landing_zone",
        "google_cloud_storage",
        "sftp",
    }
    assert len(SEGMENT_DESTINATIONS) == 7


@pytest.mark.parametrize("key", list(DESTINATIONS))
def test_every_destination_has_its_spec_and_a_flow_spec_that_accepts_it(key):
    destination = DESTINATIONS[key]
    spec = connection_spec(destination.connection_spec_id)
    assert spec["name"]
    flows = {f["id"]: f for f in all_flow_specs()}
    assert destination.connection_spec_id in flows[destination.flow_spec_id]["targetConnectionSpecIds"]
    for location_key in destination.location_keys:
        assert location_key in destination.target_schema["properties"]


def test_lookup_by_key_alias_and_spec_id():
    assert find_destination("s3") is DESTINATIONS["amazon_s3"]
    assert find_destination("GCS") is DESTINATIONS["google_cloud_storage"]
    assert find_destination("36965a81-b1c6-401b-99f8-22508f1e6a26") is DESTINATIONS["sftp"]
    assert find_destination("00000000-0000-0000-0000-000000000000") is None


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(AEPValidationError, match="amazon_s3, azure_blob") as err:
        get_destination("dropbox", workflow="datasets")
    assert err.value.field == "destination"


def test_workflow_mismatch_is_refused():
    with pytest.raises(AEPValidationError):
        get_destination("oracle_eloqua", workflow="datasets")


def test_sftp_has_password_and_ssh_key_auth():
    names = [a.name for a in DESTINATIONS["sftp"].auth_specs]
    assert names == ["SFTP with Password", "SFTP with SSH Key"]
    assert DESTINATIONS["sftp"].auth_spec("SFTP with SSH Key").secret_params == {"sshKey"}
