"""The request bodies of the dataset-export tutorial's curl examples, as JSON.

Inline ``//`` comments removed and ``<...>`` placeholders filled with values that satisfy the
connection specs' patterns; otherwise exactly the tutorial's bodies.
"""

S3_SPEC = "4fce964d-3f37-408f-9778-e597338a21ee"
AZURE_BLOB_SPEC = "6d6b59bf-fb58-4107-9064-4d246c0e5bb2"
ADLS_SPEC = "be2c3209-53bc-47e7-ab25-145db8b873e1"
DLZ_SPEC = "10440537-2a7b-4583-ac39-ed38d4b848e8"
GCS_SPEC = "c5d93acb-ea8b-4b14-8f53-02138444ae99"
SFTP_SPEC = "36965a81-b1c6-401b-99f8-22508f1e6a26"
DATA_LAKE_SPEC = "23598e46-f560-407b-88d5-ea6207e49db0"

S3_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
S3_SECRET_KEY = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12"

SOURCE_CONNECTION = {
    "name": "Connecting to Data Lake",
    "description": "Data Lake source connection to export datasets",
    "connectionSpec": {"id": DATA_LAKE_SPEC, "version": "1.0"},
    "params": {"datasets": [{"dataSetId": "5ef3e3259ad2a1191ab7dd7d", "name": "AAM Devices Data"}]},
}

BASE_CONNECTIONS = {
    "amazon_s3": {
        "name": "Amazon S3 Base Connection",
        "auth": {
            "specName": "Access Key",
            "params": {"s3SecretKey": S3_SECRET_KEY, "s3AccessKey": S3_ACCESS_KEY},
        },
        "connectionSpec": {"id": S3_SPEC, "version": "1.0"},
    },
    "azure_blob": {
        "name": "Azure Blob Storage Base Connection",
        "auth": {
            "specName": "ConnectionString",
            "params": {
                "connectionString": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
            },
        },
        "connectionSpec": {"id": AZURE_BLOB_SPEC, "version": "1.0"},
    },
    "adls_gen2": {
        "name": "Azure Data Lake Gen 2(ADLS Gen2) Base Connection",
        "auth": {
            "specName": "Azure Service Principal Auth",
            "params": {
                "servicePrincipalKey": "spn-key-value",
                "url": "https://acct.dfs.core.windows.net",
                "tenant": "contoso.onmicrosoft.com",
                "servicePrincipalId": "11111111-2222-3333-4444-555555555555",
            },
        },
        "connectionSpec": {"id": ADLS_SPEC, "version": "1.0"},
    },
    "data_landing_zone": {
        "name": "Data Landing Zone Base Connection",
        # The tutorial prints the typo'd id 3567r537-...; the right one is used here.
        "connectionSpec": {"id": DLZ_SPEC, "version": "1.0"},
    },
    "google_cloud_storage": {
        "name": "Google Cloud Storage Base Connection",
        "auth": {
            "specName": "Google Cloud Storage authentication credentials",
            "params": {"accessKeyId": "GOOG1EXAMPLEACCESSKEYID", "secretAccessKey": "gcs-secret-access-key"},
        },
        "connectionSpec": {"id": GCS_SPEC, "version": "1.0"},
    },
    "sftp": {
        "name": "SFTP with password Base Connection",
        "auth": {
            "specName": "SFTP with Password",
            "params": {"domain": "sftp.example.com", "username": "exporter", "password": "sftp-password"},
        },
        "connectionSpec": {"id": SFTP_SPEC, "version": "1.0"},
    },
}

SFTP_SSH_BASE_CONNECTION = {
    "name": "SFTP with SSH key Base Connection",
    "auth": {
        "specName": "SFTP with SSH Key",
        "params": {
            "domain": "sftp.example.com",
            "username": "exporter",
            "sshKey": "c3NoLXJzYSBBQUFBQjNOemFDMXljMkU=",
        },
    },
    "connectionSpec": {"id": SFTP_SPEC, "version": "1.0"},
}

DLZ_TYPO_BASE_CONNECTION = {
    "name": "Data Landing Zone Base Connection",
    "connectionSpec": {"id": "3567r537-2a7b-4583-ac39-ed38d4b848e8", "version": "1.0"},
}

_LOCATIONS = {
    "amazon_s3": {"bucketName": "your-bucket-name", "path": "folder/subfolder"},
    "azure_blob": {"container": "your-container-name", "path": "folder/subfolder"},
    "adls_gen2": {"path": "folder/subfolder"},
    "data_landing_zone": {"path": "folder/subfolder"},
    "google_cloud_storage": {"bucketName": "your-bucket-name", "path": "folder/subfolder"},
    "sftp": {"remotePath": "folder/subfolder"},
}
_TARGET_NAMES = {
    "amazon_s3": ("Amazon S3 Target Connection", S3_SPEC),
    "azure_blob": ("Azure Blob Storage Target Connection", AZURE_BLOB_SPEC),
    "adls_gen2": ("Azure Data Lake Gen 2(ADLS Gen2) Target Connection", ADLS_SPEC),
    "data_landing_zone": ("Data Landing Zone Target Connection", DLZ_SPEC),
    "google_cloud_storage": ("Google Cloud Storage Target Connection", GCS_SPEC),
    "sftp": ("SFTP Target Connection", SFTP_SPEC),
}


def target_connection(key: str, base_connection_id: str) -> dict:
    """The tutorial's target connection body (it sends JSON with compression NONE)."""
    name, spec = _TARGET_NAMES[key]
    return {
        "name": name,
        "baseConnectionId": base_connection_id,
        "params": {
            "mode": "Server-to-server",
            **_LOCATIONS[key],
            "compression": "NONE",
            "datasetFileType": "JSON",
        },
        "connectionSpec": {"id": spec, "version": "1.0"},
    }


_FLOWS = {
    "amazon_s3": ("an Amazon S3 cloud storage destination", "269ba276-16fc-47db-92b0-c1049a3c131f"),
    "azure_blob": ("an Azure Blob Storage cloud storage destination", "95bd8965-fc8a-4119-b9c3-944c2c2df6d2"),
    "adls_gen2": (
        "an Azure Data Lake Gen 2(ADLS Gen2) cloud storage destination",
        "17be2013-2549-41ce-96e7-a70363bec293",
    ),
    "data_landing_zone": (
        "a Data Landing Zone cloud storage destination",
        "cd2fc47e-e838-4f38-a581-8fff2f99b63a",
    ),
    "google_cloud_storage": (
        "a Google Cloud Storage cloud storage destination",
        "585c15c4-6cbf-4126-8f87-e26bff78b657",
    ),
    "sftp": ("an SFTP cloud storage destination", "354d6aad-4754-46e4-a576-1b384561c440"),
}


def dataflow(key: str, source_id: str, target_id: str) -> dict:
    """The tutorial's dataflow body, ``scheduleParams`` written as valid JSON (hourly, every 3)."""
    what, flow_spec = _FLOWS[key]
    description_what = what if key != "google_cloud_storage" else "a Google Cloud Storage destination"
    return {
        "name": f"Activate datasets to {what}",
        "description": f"This operation creates a dataflow to export datasets to {description_what}",
        "flowSpec": {"id": flow_spec, "version": "1.0"},
        "sourceConnectionIds": [source_id],
        "targetConnectionIds": [target_id],
        "transformations": [],
        "scheduleParams": {
            "exportMode": "FIRST_FULL_THEN_INCREMENTAL",
            "interval": 3,
            "timeUnit": "hour",
            "startTime": 1675901210,
            "endTime": 1975901210,
            "foldernameTemplate": "%DESTINATION%_%DATASET_ID%_%DATETIME(YYYYMMdd_HHmmss)%",
        },
    }


DESTINATION_KEYS = tuple(BASE_CONNECTIONS)
