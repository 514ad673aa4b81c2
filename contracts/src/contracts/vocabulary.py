"""The shared words of the domain (ARCHITECTURE.md section 2), as enums."""

from __future__ import annotations

from enum import StrEnum


class CaseType(StrEnum):
    CHILD_LABOUR = "child_labour"
    HAZARDOUS_CHILD_LABOUR = "hazardous_child_labour"
    CHILD_TRAFFICKING = "child_trafficking"
    FORCED_LABOUR = "forced_labour"
    AT_RISK = "at_risk"


class Channel(StrEnum):
    HOTLINE_111 = "hotline_111"
    POLICE = "police"
    SCHOOL = "school"
    LABOUR_INSPECTION = "labour_inspection"
    COMMUNE_COLLABORATOR = "commune_collaborator"
    DOLISA = "dolisa"
    NGO = "ngo"
    MEDIA = "media"
    SELF_REPORT = "self_report"


class RiskLevel(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class AgeBand(StrEnum):
    """The reporting bands of the national plan; identities never leave the cases service."""

    UNDER_5 = "0-4"
    AGE_5_11 = "5-11"
    AGE_12_14 = "12-14"
    AGE_15_17 = "15-17"
    UNKNOWN = "unknown"

    @classmethod
    def of_age(cls, years: int | None) -> AgeBand:
        if years is None or years < 0:
            return cls.UNKNOWN
        if years < 5:
            return cls.UNDER_5
        if years <= 11:
            return cls.AGE_5_11
        if years <= 14:
            return cls.AGE_12_14
        if years <= 17:
            return cls.AGE_15_17
        return cls.UNKNOWN


class ConsentBasis(StrEnum):
    """On what ground the case may be shared with other agencies."""

    CONSENT = "consent"
    LEGAL_OVERRIDE = "legal_override"
    NONE = "none"


class ReferralState(StrEnum):
    """FHIR Task status codes, so a FHIR-speaking system maps one to one."""

    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CaseStage(StrEnum):
    """The six steps of the national case-management process (Decree 56/2017/NĐ-CP)."""

    RECEIVED = "received"
    ASSESSED = "assessed"
    NEEDS_IDENTIFIED = "needs_identified"
    PLAN_APPROVED = "plan_approved"
    PLAN_IN_PROGRESS = "plan_in_progress"
    REVIEWED = "reviewed"
    CLOSED = "closed"


class SupportNeed(StrEnum):
    """Support and intervention needs named by the provincial plans."""

    EDUCATION = "education"
    SOCIAL_ASSISTANCE = "social_assistance"
    HEALTH_CARE = "health_care"
    PSYCHOLOGICAL_SUPPORT = "psychological_support"
    LEGAL_AID = "legal_aid"
    VOCATIONAL_TRAINING = "vocational_training"
    FAMILY_ECONOMIC_SUPPORT = "family_economic_support"
    SAFE_ACCOMMODATION = "safe_accommodation"
    FAMILY_TRACING_REINTEGRATION = "family_tracing_reintegration"


class CaseClock(StrEnum):
    """The legal clocks of a case; their limits are configuration."""

    EMERGENCY_INTERVENTION = "emergency_intervention"  # 12 hours, child at serious risk
    PLAN_APPROVAL = "plan_approval"  # 5 working days


class NotificationChannel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class AuditAction(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    EXPORT = "export"
    DELETE = "delete"
    ERASE = "erase"  # a child's identity destroyed (crypto-shredding)
    REPLAY = "replay"  # a dead letter put back on its topic


class AuditOutcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
