"""The agency types of the network, from shared/domain/DIGEST.md's table.

Apart from agencies.py so that event models can use it without importing the
directory code.
"""

from __future__ import annotations

from enum import StrEnum


class AgencyType(StrEnum):
    """Agency codes from shared/domain/DIGEST.md's table."""

    POLICE = "police"
    CIVIL_AFFAIRS = "civil_affairs"
    HEALTH = "health"
    EDUCATION = "education"
    JUSTICE = "justice"
    HR_SOCIAL_SECURITY = "hr_social_security"
    WOMENS_FEDERATION = "womens_federation"
    YOUTH_LEAGUE = "youth_league"
    DISABLED_FEDERATION = "disabled_federation"
    TRANSPORT = "transport"
    CULTURE_TOURISM = "culture_tourism"
    MEDIA = "media"
    CYBERSPACE = "cyberspace"
    PROCURATORATE = "procuratorate"
    COURT = "court"
    COORDINATION_OFFICE = "coordination_office"
