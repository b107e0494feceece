"""The analysis built from the deterministic red-flag triage alone, and the owner-facing texts
per urgency level (English and French) that the ensemble also relies on."""

from __future__ import annotations

from prediag.models import Analysis, Locale, PreDiagnosisRequest, TriageResult, Urgency

TRIAGE_ONLY_CONFIDENCE_WITH_FLAGS = 0.3
TRIAGE_ONLY_CONFIDENCE_WITHOUT_FLAGS = 0.2

URGENCY_LABEL: dict[Locale, dict[Urgency, str]] = {
    "en": {
        Urgency.IMMEDIATE: "immediate",
        Urgency.VERY_URGENT: "very urgent",
        Urgency.URGENT: "urgent",
        Urgency.STANDARD: "standard",
        Urgency.NON_URGENT: "non-urgent",
    },
    "fr": {
        Urgency.IMMEDIATE: "immédiate",
        Urgency.VERY_URGENT: "très urgente",
        Urgency.URGENT: "urgente",
        Urgency.STANDARD: "standard",
        Urgency.NON_URGENT: "non urgente",
    },
}

SEEN_WITHIN: dict[Locale, dict[Urgency, str]] = {
    "en": {
        Urgency.IMMEDIATE: "at once",
        Urgency.VERY_URGENT: "within 15 minutes",
        Urgency.URGENT: "within the hour",
        Urgency.STANDARD: "within about 2 hours",
        Urgency.NON_URGENT: "within about 4 hours or at a routine appointment",
    },
    "fr": {
        Urgency.IMMEDIATE: "immédiatement",
        Urgency.VERY_URGENT: "dans les 15 minutes",
        Urgency.URGENT: "dans l'heure",
        Urgency.STANDARD: "dans les 2 heures environ",
        Urgency.NON_URGENT: "dans les 4 heures environ ou lors d'un rendez-vous habituel",
    },
}

OWNER_ADVICE: dict[Locale, dict[Urgency, list[str]]] = {
    "en": {
        Urgency.IMMEDIATE: [
            "Go to the clinic now: your animal needs to be seen immediately.",
            "Call the clinic on the way so the team is ready when you arrive.",
            "Keep your animal calm and warm; give no food, drink or human medicine.",
        ],
        Urgency.VERY_URGENT: [
            "Bring your animal to the clinic as soon as possible, within 15 minutes if you can.",
            "Call the clinic now to tell them you are coming.",
            "Give no food, drink or human medicine until a vet has seen your animal.",
        ],
        Urgency.URGENT: [
            "Call the clinic now: your animal should be seen by a vet within the hour.",
            "Come at once if breathing changes, your animal collapses or vomits repeatedly.",
        ],
        Urgency.STANDARD: [
            "Book a visit at the clinic for today.",
            "Come at once if the signs get worse or new signs appear.",
        ],
        Urgency.NON_URGENT: [
            "Book an appointment with the clinic; this does not look like an emergency.",
            "Contact the clinic again if the signs get worse or new signs appear.",
        ],
    },
    "fr": {
        Urgency.IMMEDIATE: [
            "Rendez-vous à la clinique maintenant : votre animal doit être vu immédiatement.",
            "Appelez la clinique en route pour que l'équipe soit prête à votre arrivée.",
            "Gardez votre animal au calme et au chaud ; ne donnez ni nourriture, ni boisson, "
            "ni médicament humain.",
        ],
        Urgency.VERY_URGENT: [
            "Amenez votre animal à la clinique au plus vite, si possible dans les 15 minutes.",
            "Appelez la clinique maintenant pour annoncer votre arrivée.",
            "Ne donnez ni nourriture, ni boisson, ni médicament humain avant l'examen.",
        ],
        Urgency.URGENT: [
            "Appelez la clinique maintenant : un vétérinaire doit voir votre animal dans l'heure.",
            "Venez immédiatement si la respiration change, si votre animal s'effondre ou "
            "vomit à répétition.",
        ],
        Urgency.STANDARD: [
            "Prenez rendez-vous à la clinique pour aujourd'hui.",
            "Venez immédiatement si les signes s'aggravent ou si de nouveaux signes apparaissent.",
        ],
        Urgency.NON_URGENT: [
            "Prenez rendez-vous avec la clinique ; cela ne semble pas être une urgence.",
            "Recontactez la clinique si les signes s'aggravent ou si de nouveaux signes "
            "apparaissent.",
        ],
    },
}


_COLOUR_FR = {
    "red": "rouge",
    "orange": "orange",
    "yellow": "jaune",
    "green": "vert",
    "blue": "bleu",
}


def level_sentence(level: Urgency, locale: Locale) -> str:
    """'Urgency: immediate (red), to be seen at once.' in the owner's locale."""
    if locale == "fr":
        return (
            f"Urgence : {URGENCY_LABEL['fr'][level]} ({_COLOUR_FR[level.colour]}), "
            f"à voir {SEEN_WITHIN['fr'][level]}."
        )
    return (
        f"Urgency: {URGENCY_LABEL['en'][level]} ({level.colour}), "
        f"to be seen {SEEN_WITHIN['en'][level]}."
    )


def triage_summary(triage: TriageResult, locale: Locale, *, level: Urgency | None = None) -> str:
    """A deterministic summary for the owner: the level and the warning signs found."""
    level = level or triage.level
    labels = [flag.label for flag in triage.flags]
    if locale == "fr":
        signs = (
            "Signes d'alerte relevés dans votre description : " + "; ".join(labels) + "."
            if labels
            else "Aucun signe d'alerte n'a été relevé dans votre description."
        )
        closing = "Un vétérinaire de la clinique va examiner votre demande."
    else:
        signs = (
            "Warning signs found in your description: " + "; ".join(labels) + "."
            if labels
            else "No warning sign was found in your description."
        )
        closing = "A vet at the clinic will review your request."
    return " ".join((level_sentence(level, locale), signs, closing))


def triage_only_analysis(request: PreDiagnosisRequest, triage: TriageResult) -> Analysis:
    """The pre-diagnosis when no AI provider is configured: the red-flag triage level, a summary
    in the owner's locale listing the red flags, the owner advice for that level and a modest
    confidence."""
    locale = request.owner_locale
    return Analysis(
        urgency=triage.level,
        triage=triage,
        summary=triage_summary(triage, locale),
        red_flags=[flag.label for flag in triage.flags],
        owner_advice=list(OWNER_ADVICE[locale][triage.level]),
        confidence=(
            TRIAGE_ONLY_CONFIDENCE_WITH_FLAGS
            if triage.flags
            else TRIAGE_ONLY_CONFIDENCE_WITHOUT_FLAGS
        ),
        method="triage_only",
    )
