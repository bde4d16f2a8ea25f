"""Propose the registry parcel (and owner) a submission is about, with a calibrated confidence and evidence.

propose(documents):
  1. gather what the scans say (features.scan_submission);
  2. blocking: candidate parcels through indexed lookups: certificate serial (and its digits alone),
     registry number, (map sheet, parcel number) within the communes the printed ward stands for (pre- and
     post-2025 codes), every personal number (12-digit and old 9-digit), name key with birth year ±1, and
     for an ID card alone the house number and street of its residence;
  3. score every candidate with the Fellegi-Sunter model (parcel fields once, people against the parcel's
     best-matching owners, names term-frequency adjusted);
  4. turn scores into the probability that each candidate is *the* parcel, against each other and against
     "not in the registry", then calibrate; band by the configured thresholds; explain."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein
from sqlalchemy import Engine

from models.document import Document
from models.proposal import Band, Evidence, Proposal, ProposedUpdate, band_for
from models.settings import Settings, get_settings
from worker.extract import code_print_conflicts
from worker.keys import address_key, registry_key, serial_digits, serial_key
from worker.match.comparators import (
    compare_area,
    compare_birth_year,
    compare_code,
    compare_commune,
    compare_id,
    compare_land_use,
    compare_name,
    compare_parcel_ref,
    compare_residence,
    compare_street,
)
from worker.match.corrections import proposed_updates
from worker.match.features import ScannedPerson, ScannedSubmission, scan_submission
from worker.match.model import Model, active_model_path
from worker.store.registry import Lookup, OwnerRow, ParcelRow, RegistryRepository
from worker.vntext import commune_name_key, name_key, street_part

log = logging.getLogger(__name__)

COMMUNES_PATH = Path(__file__).with_name("communes.json")
# how many candidates one name lookup may bring (a very common name + year); more is noise, not recall
NAME_LIMIT = 60
# how long band thresholds from a ThresholdSource (what an admin saved in the review app) are cached
THRESHOLDS_TTL_S = 30.0

# (auto_accept, review) band thresholds, read again every THRESHOLDS_TTL_S seconds
ThresholdSource = Callable[[], tuple[float, float]]


@lru_cache(maxsize=131072)
def _street(address: str) -> str:
    return street_part(address)


@dataclass
class PersonMatch:
    owner: OwnerRow | None
    levels: dict[str, str | None]
    weights: dict[str, float]
    total: float


@dataclass
class Scored:
    parcel: ParcelRow
    levels: dict[str, str | None]  # parcel fields + the primary person's fields
    weights: dict[str, float]
    total: float
    persons: list[PersonMatch] = field(default_factory=list)
    raw: float = 0.0
    confidence: float = 0.0
    person_factor: float = 0.0  # log2 of the saturated person evidence (see Matcher._posteriors)
    tied_with: list[str] = field(default_factory=list)  # best candidates the scans score exactly the same
    blocked_by: set[str] = field(default_factory=set)

    @property
    def owner(self) -> OwnerRow | None:
        return self.persons[0].owner if self.persons else None


def _closest(key: str, rows: list[tuple[str, str]], limit: int = 30) -> list[str]:
    """Parcels whose owner's name key is one or two edits from `key` (not equal: those came from the exact
    lookup), closest first: common prefixes (`NGUYEN THI `) bring hundreds of rows."""
    scored = sorted(
        (d, pid) for pid, other in rows if other != key and (d := Levenshtein.distance(other, key, score_cutoff=2)) <= 2
    )
    return [pid for _, pid in scored[:limit]]


class CommuneResolver:
    """What a ward/commune name printed on a scan stands for in the registry's legacy commune codes."""

    def __init__(self, ward_codes: dict[str, dict[str, int]], units: dict[str, Any] | None = None) -> None:
        self.ward_codes = ward_codes
        code_wards: dict[str, set[str]] = {}
        for ward, codes in ward_codes.items():
            for code in codes:
                code_wards.setdefault(code, set()).add(ward)
        self.merged: dict[str, frozenset[str]] = {}
        for unit_name, unit in (units or {}).items():
            key = name_key(unit_name)
            legacy: set[str] = {unit["code"]}
            wards = set(code_wards.get(unit["code"], ())) | {_ward_of(n) for n in unit.get("merged", [])}
            for ward in wards:
                legacy |= set(ward_codes.get(ward, {}))
            self.merged[key] = frozenset(legacy)

    def ward_in(self, address: str) -> str | None:
        """The ward of an address that names it without the unit word (`15 Lê Lợi, Vĩnh Ninh, TP. Huế`,
        as many ID cards print it): the first comma part that is a ward name the registry knows."""
        for part in address.split(",")[1:]:
            key = name_key(part)
            if key in self.ward_codes or key in self.merged:
                return key
        return None

    def resolve(self, ward_key: str | None) -> tuple[frozenset[str], frozenset[str]]:
        """(codes the name is used with in registry addresses, codes of the post-2025 unit of that name)."""
        if not ward_key:
            return frozenset(), frozenset()
        codes = self.ward_codes.get(ward_key, {})
        total = sum(codes.values())
        # a code seen with this ward name in under 5% of addresses is dirt (or a merged unit's new code)
        exact = frozenset(c for c, n in codes.items() if total and n / total >= 0.05)
        return exact, self.merged.get(ward_key, frozenset())


def _ward_of(name: str) -> str:
    """A ward's name as commune_name_key yields it from an address (`Phường Đúc` → `DUC`)."""
    return commune_name_key(name if name.startswith("Phường ") else f"Phường {name}") or name_key(name)


def _load_units() -> dict[str, Any]:
    try:
        return json.loads(COMMUNES_PATH.read_text(encoding="utf-8")).get("units", {})
    except FileNotFoundError:
        return {}


class Matcher:
    """Matches submissions against the registry in `engine`. Create one per process and reuse it: it loads
    the model and registry statistics once (call refresh() after a registry import)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        model: Model | str | Path | None = None,
        *,
        thresholds: ThresholdSource | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or get_settings()
        # the composition root (worker.wiring) passes the review app's saved thresholds; alone, the settings'
        self._threshold_source = thresholds or self._settings_thresholds
        if isinstance(model, Model):
            self.model = model
        else:
            self.model = Model.load(model or active_model_path(self.settings))
        self.repo = RegistryRepository(engine)
        self.units = _load_units()
        self._thresholds: tuple[float, float] | None = None
        self._thresholds_read = 0.0
        self.refresh()

    @property
    def model_version(self) -> str:
        return self.model.version

    def refresh(self) -> None:
        with self.engine.connect() as conn:
            self.n_parcels, self.n_owners = self.repo.counts(conn)
            self.resolver = CommuneResolver(self.repo.commune_names(conn), self.units)
        self._thresholds = None

    def _settings_thresholds(self) -> tuple[float, float]:
        return self.settings.auto_accept_threshold, self.settings.review_threshold

    def thresholds(self) -> tuple[float, float]:
        """(auto_accept, review) band thresholds from the threshold source, read at most every
        THRESHOLDS_TTL_S seconds, so an admin's change reaches running workers within half a minute without a
        query per submission."""
        now = time.monotonic()
        if self._thresholds is None or now - self._thresholds_read > THRESHOLDS_TTL_S:
            self._thresholds, self._thresholds_read = self._threshold_source(), now
        return self._thresholds

    def registry_size(self) -> int:
        return self.n_parcels

    # --- the public entry point ----------------------------------------------------------------------

    def propose(self, documents: list[Document]) -> list[Proposal]:
        """At most settings.max_proposals proposals, best first (empty when nothing in the registry fits)."""
        if not documents or self.n_parcels == 0:
            return []
        sub = scan_submission(documents)
        with self.engine.connect() as conn:
            scored = self.rank(sub, conn)
        conflicts = list(dict.fromkeys(w for d in documents for w in code_print_conflicts(d.warnings)))
        return [self._proposal(sub, s, scored, conflicts) for s in scored[: self.settings.max_proposals]]

    def assess(self, documents: list[Document], parcel_ids: Sequence[str]) -> list[Proposal]:
        """Proposals for parcels a person chose (a reviewer's registry search), scored and explained with the
        same model as propose(), best first. Parcels not in the registry are left out."""
        if not documents or not parcel_ids:
            return []
        sub = scan_submission(documents)
        with self.engine.connect() as conn:
            scored = [self.score(sub, p, conn) for p in self.repo.fetch(conn, parcel_ids).values()]
        self._posteriors(scored)
        scored.sort(key=lambda s: (-s.raw, -s.total, s.parcel.parcel_id))
        conflicts = list(dict.fromkeys(w for d in documents for w in code_print_conflicts(d.warnings)))
        return [self._proposal(sub, s, scored, conflicts) for s in scored]

    def rank(self, sub: ScannedSubmission, conn: Any) -> list[Scored]:
        """Every candidate scored, with raw and calibrated probabilities, best first."""
        parcels, blocked_by = self.candidates(sub, conn)
        scored = [self.score(sub, p, conn) for p in parcels.values()]
        for s in scored:
            s.blocked_by = blocked_by.get(s.parcel.parcel_id, set())
        self._posteriors(scored)
        scored.sort(key=lambda s: (-s.raw, -s.total, s.parcel.parcel_id))
        return scored

    # --- blocking ------------------------------------------------------------------------------------

    def candidates(self, sub: ScannedSubmission, conn: Any) -> tuple[dict[str, ParcelRow], dict[str, set[str]]]:
        """Parcels the scans could be about, and which blocking rules found each. All lookups go to the
        database in one round trip, the parcels with their owners in a second."""
        repo = self.repo
        lookups: list[tuple[str, Lookup]] = []
        if sub.serial_key:
            lookups.append(("certificate_serial", repo.serial_lookup([sub.serial_key])))
            digits = serial_digits(sub.serial_key)
            if digits and len(digits) >= 6:
                lookups.append(("serial_digits", repo.serial_number_lookup(digits)))
        if sub.registry_key:
            lookups.append(("registry_number", repo.registry_number_lookup([sub.registry_key])))
        if sub.map_sheet_number is not None and sub.parcel_number is not None:
            exact, merged = self.resolver.resolve(sub.ward_key)
            communes = sorted(exact | merged) or None
            lookups.append(("parcel_ref", repo.parcel_ref_lookup(sub.map_sheet_number, sub.parcel_number, communes)))
        ids = sorted({n for p in sub.persons for n in p.id_numbers})
        if ids:
            lookups.append(("id_number", repo.id_number_lookup(ids)))
        if not sub.has_certificate:
            # an ID card alone: its residence finds the parcel the holder lives on, for a registry row whose
            # number is missing or the old one and whose name or birth year is dirty (or a name misread)
            homes = sorted({k for p in sub.persons if (k := address_key(p.address))})
            if homes:
                lookups += [("residence", lk) for lk in repo.address_lookups(homes)]
        typo_years: list[int] = []
        primary_key = ""
        for i, person in enumerate(sub.persons):
            if not person.name_key:
                continue
            years = [person.birth_year - 1, person.birth_year, person.birth_year + 1] if person.birth_year else None
            rule = "name_birth_year" if years else "name"
            lookups.append((rule, repo.name_lookup(person.name_key, years, NAME_LIMIT)))
            if years and not person.id_numbers:
                # no number to go by: a misread birth year must not lose the person (`1963` read as `1953`)
                lookups.append(("name", repo.name_lookup(person.name_key, None, NAME_LIMIT)))
            if i == 0 and person.birth_year and " " in person.name_key:
                # a typo or misread in the given name (the registry's `THANH PHOG`, `Hươn`): same surname and
                # middle names, same birth year (or none recorded), the name one or two edits away
                primary_key, typo_years = person.name_key, [person.birth_year]
                prefix = person.name_key.rsplit(" ", 1)[0] + " "
                lookups += [("name_typo", lk) for lk in repo.name_prefix_lookups(prefix, typo_years)]
        found: dict[str, set[str]] = {}
        typo_rows: list[tuple[str, str]] = []
        for rule, pid, key in repo.run_lookups(conn, lookups):
            if rule == "name_typo":
                if key is not None:
                    typo_rows.append((pid, key))
            else:
                found.setdefault(pid, set()).add(rule)
        if primary_key:
            close = _closest(primary_key, typo_rows)
            if not close:
                # the surname or a middle name misread (`NIUYỄN`): same given name, birth year ±1
                given = primary_key.rsplit(" ", 1)[-1]
                close = _closest(primary_key, repo.by_given_name(conn, given, typo_years))
            for pid in close:
                found.setdefault(pid, set()).add("name_typo_birth_year")
        return repo.fetch(conn, found), found

    # --- scoring -------------------------------------------------------------------------------------

    def _match_person(self, conn: Any, person: ScannedPerson, owner: OwnerRow) -> PersonMatch:
        model = self.model
        levels = {
            "name": compare_name(person.name, owner.name),
            "birth_year": compare_birth_year(person.birth_year, owner.birth_year),
            "id_number": compare_id(person.id_numbers, owner.id_number),
        }
        tf = None
        if levels["name"] and self.n_owners:
            # the registry's own count for this name (fetched with the owner); at least 1
            count = owner.name_freq if owner.name_freq is not None else 1
            tf = max(count, 1) / self.n_owners
        weights = {
            "name": model.weight("name", levels["name"], tf),
            "birth_year": model.weight("birth_year", levels["birth_year"]),
            "id_number": model.weight("id_number", levels["id_number"]),
        }
        return PersonMatch(owner, levels, weights, sum(weights.values()))

    def score(self, sub: ScannedSubmission, parcel: ParcelRow, conn: Any) -> Scored:
        model = self.model
        exact_codes, merged_codes = self.resolver.resolve(sub.ward_key)
        levels: dict[str, str | None] = {
            "certificate_serial": compare_code(sub.serial_key, serial_key(parcel.certificate_serial)),
            "registry_number": compare_code(sub.registry_key, registry_key(parcel.registry_number), "close"),
            "parcel_ref": compare_parcel_ref(
                sub.map_sheet_number, sub.parcel_number, parcel.map_sheet_number, parcel.parcel_number
            ),
            "commune": compare_commune(
                sub.ward_key, parcel.commune_code, parcel.commune_key, exact_codes, merged_codes
            ),
            "street": compare_street(sub.street, _street(parcel.address) if parcel.address else None),
            "area": compare_area(sub.area_m2, parcel.area_m2),
            "land_use": compare_land_use(sub.land_use_code, parcel.land_use_code),
            "residence": self._residence(sub, parcel),
        }
        weights = {fld: model.weight(fld, level) for fld, level in levels.items()}
        # registry numbers repeat across communes' books, serials (almost) never: weigh by how common
        if levels["registry_number"] == "exact" and self.n_parcels:
            weights["registry_number"] = model.weight(
                "registry_number", "exact", (parcel.registry_freq or 1) / self.n_parcels
            )
        if levels["certificate_serial"] == "exact" and self.n_parcels:
            weights["certificate_serial"] = model.weight(
                "certificate_serial", "exact", (parcel.serial_freq or 1) / self.n_parcels
            )
        persons: list[PersonMatch] = []
        free = list(parcel.owners)
        for i, person in enumerate(sub.persons):
            if not free:
                break
            best = max((self._match_person(conn, person, o) for o in free), key=lambda pm: pm.total)
            if i > 0:
                # a co-owner missing from the record is weak evidence against the parcel: cap it
                best.total = max(best.total, model.secondary_person_floor)
            persons.append(best)
            free.remove(best.owner)  # type: ignore[arg-type]
        total = sum(weights.values()) + sum(pm.total for pm in persons)
        if persons:
            levels.update(persons[0].levels)
        return Scored(parcel, levels, weights, total, persons)

    def _residence(self, sub: ScannedSubmission, parcel: ParcelRow) -> str | None:
        person = sub.primary
        if person is None or not person.address or not parcel.address:
            return None
        ward = person.ward_key or self.resolver.ward_in(person.address)
        return compare_residence(person.street, ward, _street(parcel.address), parcel.commune_key)

    def _posteriors(self, scored: list[Scored]) -> None:
        """P(candidate is the parcel | scores) against each other and 'none of them', then calibration.

        People need care: a person's agreement with a candidate's owner says the owner is that person, not
        that this is the parcel, because one person may own several parcels. Under the alternative (another
        parcel is the one), a candidate whose owner matches is explained by "the same person owns it too",
        with prior q = other parcels per owner / parcels; so the person factor is BF / (1 + q·BF), which
        saturates at 1/q: two parcels of one clearly identified person split the probability (an ID card
        alone cannot tell them apart) instead of the one with the cleaner registry row taking it all."""
        if not scored:
            return
        n = max(self.n_parcels, 1)
        log_prior = math.log2(self.model.prior_in_registry / n)
        log_q = math.log2(max(self.model.other_parcels_per_owner, 1e-9) / n)
        terms = []
        for s in scored:
            person = sum(pm.total for pm in s.persons)
            parcel = s.total - person
            # log2(BF / (1 + q·BF)), stably
            z = log_q + person
            saturated = person - (z + math.log2(1 + 2.0**-z) if z > 0 else math.log2(1 + 2.0**z))
            s.person_factor = saturated
            terms.append(log_prior + parcel + saturated)
        top = max(max(terms), 0.0)
        denominator = top + math.log2(2.0**-top + sum(2.0 ** (t - top) for t in terms))
        for s, t in zip(scored, terms, strict=True):
            s.raw = 2.0 ** (t - denominator)
            s.confidence = self.model.calibration(s.raw)
        # Best candidates with exactly the same evidence (two namesakes born the same year, an ID card alone
        # and nothing else read) cannot be told apart: whichever is listed first is right only as often as a
        # coin says. Each gets the calibrated probability that the parcel is one of them, shared equally, so
        # equal evidence never shows as a confident top-1.
        best = max(terms)
        tied = [s for s, t in zip(scored, terms, strict=True) if best - t <= 1e-9 * max(1.0, abs(best))]
        if len(tied) > 1:
            share = self.model.calibration(sum(s.raw for s in tied)) / len(tied)
            for s in tied:
                s.confidence = min(s.confidence, share)
                s.tied_with = [o.parcel.parcel_id for o in tied if o is not s]

    # --- output --------------------------------------------------------------------------------------

    def _band(self, confidence: float) -> Band:
        return band_for(confidence, *self.thresholds())

    def _proposal(
        self, sub: ScannedSubmission, s: Scored, ranked: list[Scored], conflicts: list[str] | None = None
    ) -> Proposal:
        parcel = s.parcel
        owner = s.owner
        confidence = round(min(max(s.confidence, 0.0), 1.0), 6)
        band = self._band(confidence)
        notes: list[str] = []
        if conflicts:
            # QR and MRZ are evidence, not authority: a code naming someone other than the print may be forged
            notes.append(
                "the ID card's QR code or MRZ disagrees with its printed text on the holder's identity "
                f"({'; '.join(conflicts)}): the code may be forged or misread; decide from the printed card"
            )
            if band == "auto_accept":
                band = "review"
        if parcel.status and parcel.status != "active":
            successors = parcel.superseded_by.split(";") if parcel.superseded_by else []
            notes.append(
                f"registry parcel is {parcel.status}"
                + (f" (now {', '.join(successors)})" if successors else "")
                + ": the certificate predates the change; decide which current parcel the update belongs to"
            )
            if band == "auto_accept":
                band = "review"
        if parcel.derived_from:
            notes.append(f"parcel was created from {parcel.derived_from.replace(';', ', ')} (split or merge)")
        if owner is not None and not (sub.has_certificate and s.levels.get("parcel_ref") == "exact"):
            same_owner = [
                o.parcel.parcel_id
                for o in ranked
                if o is not s
                and o.owner is not None
                and o.persons[0].levels.get("id_number") == "exact"
                and s.persons[0].levels.get("id_number") == "exact"
            ]
            if same_owner:
                notes.append(
                    f"this owner also holds {len(same_owner)} other candidate parcel(s) "
                    f"({', '.join(same_owner[:4])}); only parcel fields can tell them apart"
                )
        if s.tied_with:
            notes.append(
                f"scored exactly as {len(s.tied_with)} other candidate(s) ({', '.join(sorted(s.tied_with)[:4])}): "
                "the scans cannot tell them apart, so the confidence is shared between them"
            )
        repaired = parcel.repaired or (owner.repaired if owner is not None else None)
        if repaired:
            notes.append(f"registry text was repaired from a legacy encoding on import ({repaired})")
        return Proposal(
            parcel_id=parcel.parcel_id,
            confidence=confidence,
            band=band,
            evidence=self._evidence(sub, s),
            proposed_updates=self._updates(sub, s),
            owner_id=owner.owner_id if owner else None,
            owner_name=owner.name if owner else None,
            match_weight=round(s.total, 3),
            model_version=self.model.version,
            notes=notes,
        )

    def _evidence(self, sub: ScannedSubmission, s: Scored) -> list[Evidence]:
        p = s.parcel
        rows: list[Evidence] = []

        def add(fld: str, scanned: Any, record: Any, level: str | None, weight: float) -> None:
            if scanned in (None, "") and record in (None, ""):
                return
            rows.append(
                Evidence(
                    field=fld, scanned=scanned, record=record, agreement=level or "missing", weight=round(weight, 3)
                )
            )

        add(
            "certificate_serial",
            sub.certificate_serial,
            p.certificate_serial,
            s.levels["certificate_serial"],
            s.weights["certificate_serial"],
        )
        add(
            "registry_number",
            sub.registry_number,
            p.registry_number,
            s.levels["registry_number"],
            s.weights["registry_number"],
        )
        scanned_ref = f"{sub.map_sheet_number}/{sub.parcel_number}" if sub.map_sheet_number is not None else None
        record_ref = f"{p.map_sheet_number}/{p.parcel_number}" if p.map_sheet_number is not None else None
        add("map_sheet/parcel_number", scanned_ref, record_ref, s.levels["parcel_ref"], s.weights["parcel_ref"])
        add(
            "commune",
            sub.ward_key,
            f"{p.commune_code} {p.commune_key or ''}".strip(),
            s.levels["commune"],
            s.weights["commune"],
        )
        add("parcel_address", sub.parcel_address, p.address, s.levels["street"], s.weights["street"])
        add("area_m2", sub.area_m2, p.area_m2, s.levels["area"], s.weights["area"])
        add("land_use_code", sub.land_use_code, p.land_use_code, s.levels["land_use"], s.weights["land_use"])
        if s.levels.get("residence") is not None and sub.primary is not None:
            add("owner_residence", sub.primary.address, p.address, s.levels["residence"], s.weights["residence"])
        for i, (person, pm) in enumerate(zip(sub.persons, s.persons, strict=False)):
            prefix = "owner" if i == 0 else f"co_owner_{i}"
            owner = pm.owner
            add(f"{prefix}_name", person.name, owner.name if owner else None, pm.levels["name"], pm.weights["name"])
            add(
                f"{prefix}_birth_year",
                person.birth_year,
                owner.birth_year if owner else None,
                pm.levels["birth_year"],
                pm.weights["birth_year"],
            )
            add(
                f"{prefix}_id_number",
                "/".join(person.id_numbers) or None,
                owner.id_number if owner else None,
                pm.levels["id_number"],
                pm.weights["id_number"],
            )
        return rows

    def _updates(self, sub: ScannedSubmission, s: Scored) -> list[ProposedUpdate]:
        """Registry values the scans correct (worker.match.corrections), for the people matched to an owner."""
        people = [
            (person, pm.owner, pm.levels)
            for person, pm in zip(sub.persons, s.persons, strict=False)
            if pm.owner is not None
        ]
        return proposed_updates(sub, people, s.parcel)


ProposeFn = Callable[[list[Document]], list[Proposal]]
