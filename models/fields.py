"""Field names: the contract between the readers (extract), matching and review.

A Document's `fields` and each of its `owners` are keyed by these names; the JSON contract (docs/cli.md,
`intake process --json`) prints them as they are. Use the constants, never the string literals,
so that a renamed or misspelled field is an import error rather than a silently missing value.
"""

from __future__ import annotations

from typing import Final

# --- identity cards (CCCD, CMND, Căn cước) -----------------------------------------------------------------
ID_NUMBER: Final = "id_number"
OLD_ID_NUMBER: Final = "old_id_number"  # the 9-digit CMND number a chip card's QR repeats
FULL_NAME: Final = "full_name"
DATE_OF_BIRTH: Final = "date_of_birth"
SEX: Final = "sex"  # "male" / "female"
NATIONALITY: Final = "nationality"
ETHNICITY: Final = "ethnicity"
PLACE_OF_ORIGIN: Final = "place_of_origin"
PLACE_OF_RESIDENCE: Final = "place_of_residence"
PLACE_OF_RESIDENCE_NORMALISED: Final = "place_of_residence_normalised"  # abbreviations expanded
PLACE_OF_BIRTH: Final = "place_of_birth"
DATE_OF_EXPIRY: Final = "date_of_expiry"
ISSUE_DATE: Final = "issue_date"  # also the certificate's
ISSUER: Final = "issuer"
PERSONAL_IDENTIFICATION: Final = "personal_identification"
CARD_GENERATION: Final = "card_generation"  # cmnd_9, cmnd_12, cccd_barcode_2016, cccd_chip_2021, cancuoc_2024
MRZ: Final = "mrz"  # the machine-readable zone's three lines

CARD_FIELDS: tuple[str, ...] = (
    ID_NUMBER,
    OLD_ID_NUMBER,
    FULL_NAME,
    DATE_OF_BIRTH,
    SEX,
    NATIONALITY,
    ETHNICITY,
    PLACE_OF_ORIGIN,
    PLACE_OF_RESIDENCE,
    PLACE_OF_RESIDENCE_NORMALISED,
    PLACE_OF_BIRTH,
    DATE_OF_EXPIRY,
    ISSUE_DATE,
    ISSUER,
    PERSONAL_IDENTIFICATION,
    CARD_GENERATION,
    MRZ,
)

# --- land-use-right certificates (GCN) ---------------------------------------------------------------------
CERTIFICATE_SERIAL: Final = "certificate_serial"
CERTIFICATE_FORM: Final = "certificate_form"  # gcn_pre2009, gcn_2009, gcn_2024_qr
CERTIFICATE_CODE: Final = "certificate_code"  # the 2024 form's 12-character code
QR_PAYLOAD: Final = "qr_payload"
PARCEL_NUMBER: Final = "parcel_number"
MAP_SHEET_NUMBER: Final = "map_sheet_number"
PARCEL_ADDRESS: Final = "parcel_address"
AREA_M2: Final = "area_m2"
AREA_IN_WORDS: Final = "area_in_words"
LAND_USE_FORM: Final = "land_use_form"
LAND_USE_PURPOSE: Final = "land_use_purpose"
LAND_USE_CODE: Final = "land_use_code"  # ODT, ONT+CLN, ...
LAND_USE_TERM: Final = "land_use_term"
LAND_USE_ORIGIN: Final = "land_use_origin"
REGISTRY_NUMBER: Final = "registry_number"
ISSUING_AUTHORITY: Final = "issuing_authority"
CHANGES: Final = "changes"  # rows recorded under "Những thay đổi sau khi cấp Giấy chứng nhận"
BARCODE: Final = "barcode"
BARCODE_COMMUNE_CODE: Final = "barcode_commune_code"
BARCODE_ISSUE_YEAR: Final = "barcode_issue_year"

CERTIFICATE_FIELDS: tuple[str, ...] = (
    CERTIFICATE_SERIAL,
    CERTIFICATE_FORM,
    CERTIFICATE_CODE,
    QR_PAYLOAD,
    PARCEL_NUMBER,
    MAP_SHEET_NUMBER,
    PARCEL_ADDRESS,
    AREA_M2,
    AREA_IN_WORDS,
    LAND_USE_FORM,
    LAND_USE_PURPOSE,
    LAND_USE_CODE,
    LAND_USE_TERM,
    LAND_USE_ORIGIN,
    REGISTRY_NUMBER,
    ISSUE_DATE,
    ISSUING_AUTHORITY,
    CHANGES,
    BARCODE,
    BARCODE_COMMUNE_CODE,
    BARCODE_ISSUE_YEAR,
)

# --- a certificate's owners (Document.owners rows) ---------------------------------------------------------
OWNER_FULL_NAME: Final = "full_name"
OWNER_BIRTH_YEAR: Final = "birth_year"
OWNER_ID_NUMBER: Final = "id_number"
OWNER_ID_TYPE: Final = "id_type"  # CMND, CCCD or other
OWNER_ADDRESS: Final = "address"
OWNER_RELATIONSHIP: Final = "relationship"  # as printed: Ông, Bà, Hộ ông(bà), Và vợ, ...

OWNER_FIELDS: tuple[str, ...] = (
    OWNER_FULL_NAME,
    OWNER_BIRTH_YEAR,
    OWNER_ID_NUMBER,
    OWNER_ID_TYPE,
    OWNER_ADDRESS,
    OWNER_RELATIONSHIP,
)
