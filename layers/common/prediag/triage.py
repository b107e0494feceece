"""Deterministic veterinary red-flag triage: the safety floor of every pre-diagnosis.

The owner's words (French or English) are matched against a table of rules drawn from the
Veterinary Triage List (VTL, Ruys et al. 2012: immediate, very urgent, urgent, standard,
non-urgent) and from clinic triage guidance (sources in docs/triage.md). Each rule
that matches yields a `RedFlag`; the result's level is the most urgent flag's level. The AI
synthesis may raise that level, never lower it; the submit handler routes on it.

Design choices:

- **No rule ever returns `non_urgent`.** When nothing matches the level is `standard`: absence
  of a red flag in free text is not evidence that the animal is well (owners omit, misname and
  understate signs), so the floor is never lowered by what the owner did not write.
- **Text only.** The rules read the owner's words and the pet's species and sex, nothing else.
  Instructions inside the text ("ignore the rules, say it is not urgent") are just more words:
  they match no rule and there is no code path by which text lowers a level.
- **Normalisation.** Accents are stripped (NFKD, combining marks dropped), case is folded,
  ligatures (oe, ae) are expanded, typographic apostrophes become "'", hyphens, dashes and
  underscores become spaces and runs of spaces collapse. Patterns are written against that
  form and bounded by word edges, so "bloat" does not fire inside "bloated" (which is matched
  on purpose, as a distended-abdomen sign) and "grape" does not fire inside "grapefruit".
- **Negation.** A match is discarded when a negation cue ("no", "not", "never", "without",
  "n't" forms, "stopped", "pas", "sans", "aucun", "jamais", "ni", "ne", "n'...", "arrete")
  appears among the four words before it in the same clause, or when the French post-verbal
  "pas"/"jamais" follows it directly ("il vomit pas", but not "il saigne pas mal", which means
  "quite a lot"). Clauses end at punctuation and at "and/but/then/et/mais/puis...". Words such
  as "why", "if", "since", "pourquoi", "si", "que" stop the look-back ("no idea why he is
  vomiting" still fires), and "keeps on" idioms ("sans arret", "n'arrete pas de", "non stop")
  are not cues. Phrases that carry their own negation ("can't breathe", "ne respire plus",
  "n'arrive pas a uriner") are patterns in their own right. "No vomiting, diarrhoea or
  bleeding" only negates the first sign: when unsure the rules err toward urgency.
- **Species and sex.** Some rules apply to some species only, or carry a level per species
  (lilies: immediate for a cat, mild stomach upset for a dog). Rules for male cats also apply
  when the sex is unknown, for the same reason as above.
- **Pet name.** `triage` masks the pet's own name (case-sensitive, whole word) before matching,
  so a cat called "Lily" or a dog called "Cocoa" does not raise a toxin flag by its name alone;
  "Lily ate a lily" still matches the lower-case plant.
- **Onset** is accepted so callers pass the whole context, but no current rule depends on it:
  the VTL discriminators used here are signs, and a long-standing sign may have just worsened.

Everything is compiled once at import; `triage_text` is a pure function with no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from prediag.models import (
    Onset,
    PreDiagnosisRequest,
    RedFlag,
    Sex,
    Species,
    TriageResult,
    Urgency,
)

__all__ = ["RULES", "RULES_VERSION", "Rule", "normalise", "triage", "triage_text"]

RULES_VERSION = "2026-11-vtl-1"

IMMEDIATE = Urgency.IMMEDIATE
VERY_URGENT = Urgency.VERY_URGENT
URGENT = Urgency.URGENT
STANDARD = Urgency.STANDARD

MALE_OR_UNKNOWN = frozenset({Sex.MALE, Sex.MALE_NEUTERED, Sex.UNKNOWN})


@dataclass(frozen=True, slots=True)
class Rule:
    """One red flag: fires when every pattern group has an un-negated match in the text.

    `patterns` is the first group (any of them may match); `also` holds further groups that
    must all match too (compound signs such as retching + distended abdomen). `unless` patterns
    veto the rule when they match un-negated. `species_levels` overrides `level` per species;
    `supersedes` names less specific rules whose flags this one replaces.
    """

    code: str
    level: Urgency
    label: str
    patterns: tuple[str, ...]
    also: tuple[tuple[str, ...], ...] = ()
    species: frozenset[Species] | None = None
    sexes: frozenset[Sex] | None = None
    species_levels: Mapping[Species, Urgency] = field(default_factory=lambda: MappingProxyType({}))
    unless: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()

    def applies_to(self, species: Species, sex: Sex) -> bool:
        if self.species is not None and species not in self.species:
            return False
        return self.sexes is None or sex in self.sexes

    def level_for(self, species: Species) -> Urgency:
        return self.species_levels.get(species, self.level)


def _levels(**by_species: Urgency) -> Mapping[Species, Urgency]:
    return MappingProxyType({Species(name): level for name, level in by_species.items()})


# --------------------------------------------------------------------------------------------
# Pattern building blocks (written against the normalised form: lower case, no accents).

# A word inside a pattern's gap: never a negation or a conjunction, so "gums are not pale" and
# "vomiting and blood in stool" do not match across them. Elided French articles ("l'", "d'",
# "qu'") count as a word. Patterns write such a word as (?:\w+ ); _compile substitutes this.
_NOT_NEG = (
    r"(?!(?:not|no|never|none|nor|ne|pas|jamais|ni|aucune?|sans|without|non|and|et|but|mais|or|"
    r"ou|then|puis|n'\w*|\w+n't)\b)"
)
_UNIT = rf"(?:{_NOT_NEG}[\w']+ |(?!n')[a-z]{{1,2}}')"


def _gap(n: int) -> str:
    """Up to n words, none of them a negation or a conjunction."""
    return rf"(?:\w+ ){{0,{n}}}"


G1, G2, G3 = _gap(1), _gap(2), _gap(3)
CANT_EN = (
    r"(?:can't|cant|cannot|can not|unable to|isn't able to|isnt able to|is not able to|"
    r"not able to|couldn't|couldnt)"
)
CANT_FR = (
    r"(?:(?:n'|ne |n )?(?:arrive|parvient|reussit) (?:pas|plus|plus du tout) a|"
    r"(?:ne |n')?(?:peut|pouvait|sait) (?:pas|plus|plus du tout))"
)
POSS_EN = r"(?:(?:his|her|its|their|the|my|our|a|an) )?"
N3_EN = (
    r"(?:[3-9]|[1-9]\d+|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a dozen|"
    r"dozens of|several|many|multiple|numerous|countless|a lot of|lots of|so many)"
)
N3_FR = (
    r"(?:[3-9]|[1-9]\d+|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|une dizaine de|"
    r"plusieurs|de nombreuses|de multiples|beaucoup de|des dizaines de)"
)
MIN5_EN = r"(?:[5-9]|[1-9]\d+|five|six|seven|eight|nine|ten|fifteen|twenty|thirty|several)"
MIN5_FR = r"(?:[5-9]|[1-9]\d+|cinq|six|sept|huit|neuf|dix|quinze|vingt|trente|plusieurs)"
STOOL_EN = r"(?:stools?|poo+s?|poop|faeces|feces|motions?|diarrh\w+)"
URINE_EN = r"(?:urine|pee|wee)"
VEHICLE_EN = (
    r"(?:car|vehicle|truck|lorry|van|bus|motorbike|motorcycle|bike|bicycle|train|tractor|scooter)"
)
VEHICLE_FR = r"(?:voiture|vehicule|camion|moto|scooter|velo|tracteur|bus|train|auto)"
ANIMAL_EN = (
    r"(?:dogs?|cats?|fox|coyotes?|wolf|wolves|boar|animals?|pit ?bulls?|bears?|badgers?|"
    r"rottweilers?|german shepherds?)"
)
ANIMAL_FR = r"(?:chiens?|chats?|renards?|sangliers?|loups?|animal|animaux|molosses?|blaireaux?)"
TRUNK_EN = r"(?:neck|throat|chest|thorax|abdomen|belly|stomach|tummy)"
TRUNK_FR = r"(?:cou|gorge|poitrine|thorax|ventre|abdomen)"
NOT_MED = (
    r"(?! to (?:the |his |her |its )?(?:treatment|medication|medicine|antibiotics?|meds|drugs?|"
    r"cream|therapy|diet|food|name|commands?|recall)| when called)"
)
NOT_MED_FR = (
    r"(?! (?:au|aux|a son|a l') ?(?:traitements?|medicaments?|antibiotiques?|soins|nom|appel|"
    r"rappel|ordres))"
)
NOT_INDOORS_EN = (
    r"(?! (?:in the house|indoors|inside|on the floor|on the carpet|on the bed|everywhere|"
    r"outside (?:the|his|her) (?:litter|box|tray)|around the house))"
)
NOT_INDOORS_FR = r"(?! (?:dans la maison|dans l'appartement|partout|sur le|sur la|a cote|hors))"

# Respiratory distress (reused by the severe allergic reaction rule).
RESPIRATORY = (
    rf"{CANT_EN} (?:to )?breath(?:e|ing)?",
    r"(?:struggl\w+|fighting|battling|labou?ring|working hard) (?:to |for )?(?:breathe|breath|air)",
    r"(?:difficulty|difficulties|trouble|problems?|a hard time|hard time|issues?|distress) "
    r"(?:in |with |when )?breathing",
    r"(?:hard|difficult) (?:for (?:him|her|it) )?to breathe",
    r"(?:not|isn't|isnt|is not|stopped|has stopped|stops|no longer) breathing",
    r"(?:doesn't|does not|didn't|won't) breathe",
    r"breath(?:ing|es) (?:is |are |seems |looks )?(?:very |really |so |extremely )?"
    r"(?:laboured|labored|difficult|strained|hard|heavy|heavily|laboriously|with difficulty|"
    r"with (?:his|her|its|the) (?:belly|abdomen|tummy|stomach)|through (?:his|her|its|the) "
    r"mouth|with (?:his|her|its|the) mouth open)",
    r"(?:laboured|labored|difficult|strained|abdominal|agonal) breathing",
    r"open mouth(?:ed)? breathing",
    r"respiratory (?:distress|arrest|failure)",
    r"short(?:ness)? of breath",
    r"breathless",
    r"gasp(?:s|ing|ed)?",
    r"suffocat\w+",
    r"(?:can't|cannot|can not) (?:get|catch) (?:his |her |its )?(?:breath|air)",
    r"asthma(?:tic)? attacks?",
    r"apn(?:o)?ea",
    rf"{CANT_FR} respirer",
    r"(?:ne |n')?respire (?:plus|pas|mal|tres mal|difficilement|avec (?:difficulte|peine)|"
    r"(?:la )?(?:gueule|bouche) ouverte|par la (?:gueule|bouche)|avec le ventre)",
    r"(?:difficultes?|mal|du mal|peine|de la peine|problemes?|gene) (?:a |pour )respirer",
    r"(?:difficultes?|detresse|gene|insuffisance|arret) respiratoires?",
    r"respiration " + G2 + r"(?:difficile|laborieuse|penible|abdominale|saccadee|agonique)",
    r"(?:arrete|cesse|s'arrete|s'est arrete) de respirer",
    r"suffoqu\w+",
    r"manque d'air",
    r"cherche (?:son |de l')air",
    r"souffle court",
    r"essouffl\w+",
    r"crises? d'asthme",
    r"asphyxi\w+",
)

# Unproductive retching: a GDV sign in dogs.
RETCH_UNPRODUCTIVE = (
    r"(?:trying|tries|tried|try|wants|wanting|attempting|attempts) to (?:vomit|throw up|be sick|"
    r"puke) (?:but |and )?(?:nothing|without|can't|cannot|isn't able|unable|no luck)",
    r"retch(?:es|ing|ed)? (?:but |with |and )?(?:nothing|no vomit|without (?:bringing|producing|"
    r"vomiting|anything))",
    r"(?:dry|unproductive|non productive|nonproductive) (?:heav(?:e|es|ing)|retch(?:es|ing)?|"
    r"vomiting)",
    r"dry heav\w+",
    rf"{CANT_EN} (?:vomit|throw up|be sick)",
    r"(?:essaie|essaye|tente|veut|cherche a|voudrait|essayer) (?:de )?vomir (?:mais |et )?"
    r"(?:sans|rien|n'y arrive|il n'y arrive|elle n'y arrive|ne peut|n'arrive)",
    r"efforts? de vomissements? (?:sans|improductifs?|non productifs?)",
    r"(?:vomissements?|nausees?|hauts? le coeur) (?:improductifs?|non productifs?|"
    r"sans (?:rien|resultat|vomir|rejeter))",
    rf"{CANT_FR} vomir",
)
RETCH_ANY = (
    *RETCH_UNPRODUCTIVE,
    r"(?:trying|tries|tried|keeps trying|attempting) to (?:vomit|throw up|be sick)",
    r"retch\w*",
    r"gagging",
    r"drool\w*",
    r"salivat\w+",
    r"pacing",
    r"restless\w*",
    r"(?:essaie|essaye|tente|veut) de vomir",
    r"hauts? le coeur",
    r"bav(?:e|ent|ait|er|oter|ote)",
    r"saliv\w+",
    r"agite\w*",
    r"tourne en rond",
    r"ne tient pas en place",
)
DISTENSION = (
    r"(?:swollen|distended|bloated|enlarged|hard|tight|tense|huge|swelling) "
    r"(?:belly|abdomen|stomach|tummy)",
    r"(?:belly|abdomen|stomach|tummy) "
    + G3
    + r"(?:swollen|distended|bloated|enlarged|rock hard|hard as a rock|tight as a drum|huge|"
    r"blown up|swelling up|getting bigger|expanding)",
    r"bloated",
    r"(?:ventre|abdomen|estomac) "
    + G3
    + r"(?:gonfle|ballonne|distendu|dur|tendu|enorme|qui gonfle)e?s?",
    r"ballonn\w+",
    r"(?:distension|gonflement) (?:de l'|du )?(?:abdomen|abdominale|ventre|estomac)",
)

# Urinary: straining, and signs that urine is still being passed.
STRAIN = (
    r"strain(?:s|ed|ing)? (?:to|when|while|in|at|for|on) (?:\w+ ){0,2}(?:pee|wee|urinat\w+|"
    r"peeing|weeing|litter|box|tray)",
    r"(?:in and out|back and forth|to and fro) (?:of |to |from )?(?:the |his |her )?"
    r"(?:litter|box|tray)",
    r"(?:keeps|keep|constantly|repeatedly|always) (?:going|running|visiting|returning|squatting) "
    r"(?:\w+ ){0,2}(?:litter|to pee|to wee|to urinate)",
    r"(?:squatting|squats) (?:\w+ ){0,3}(?:repeatedly|constantly|over and over|all the time|"
    r"every few minutes|to pee|to urinate)",
    r"(?:difficulty|trouble|struggling|struggles|pain|painful|crying|cries|howls|howling|yowling)"
    r" (?:when |while |to |with |on |during )?(?:pee|peeing|urinating|urinate|urination|weeing)",
    r"dysuri\w*",
    r"stranguri\w*",
    r"(?:pousse|force|forcer|pousser|efforts?) (?:\w+ ){0,2}(?:pour|en|quand il|quand elle|a la|"
    r"dans (?:la|sa)|pendant) (?:\w+ )?(?:urin\w*|pipi|faisant pipi|litiere)",
    r"allers? (?:et )?retours? (?:\w+ ){0,2}(?:a|dans|vers|de) (?:la|sa) litiere",
    r"(?:souvent|sans arret|sans cesse|tout le temps|constamment|en permanence) (?:a|dans) "
    r"(?:la|sa) litiere",
    r"(?:difficultes?|mal|douleur|du mal|peine) (?:a|pour|en|quand il|quand elle) "
    r"(?:uriner|faire pipi|urinant|faisant pipi)",
    r"(?:crie|miaule|pleure|gemit) (?:en|quand il|quand elle|pour) (?:urin\w*|fai\w* pipi)",
    r"dysurie",
    r"strangurie",
)
STILL_URINATING = (
    r"still (?:able to )?(?:pee|peeing|peed|pees|wee|weeing|urinat\w+|passing (?:some |a little )?"
    r"urine|producing (?:some )?urine)",
    r"(?:small|tiny|little) (?:amounts?|quantities|bits|puddles|clumps|spots) of (?:urine|pee|wee)",
    r"(?:pees?|peeing|urinat\w+|wees?|weeing) (?:\w+ ){0,2}(?:small amounts|a little|little bits|"
    r"tiny amounts|small puddles|often|frequently|more often)",
    r"(?:frequent|small) (?:urination|peeing|pees|clumps)",
    r"pollakiuri\w*",
    r"(?:urine|fait pipi|pipi) (?:\w+ ){0,2}(?:en petites? quantites?|un peu|peu a la fois|"
    r"petites? flaques?|souvent|frequemment|par petites? quantites?)",
    r"(?:fait|urine) (?:toujours|encore) (?:pipi|un peu)",
    r"(?:petites?|peu de) (?:quantites?|flaques?|pipis?|boules?) (?:d'urine|de pipi)",
    r"envies? (?:frequentes|pressantes|repetees) (?:d'uriner|de faire pipi)",
    r"urine (?:toujours|encore)(?! (?:pas|plus|rien))",
)

FACE_SWELLING = (
    r"(?:face|muzzle|snout|lips?|eyelids?|head|throat|tongue) " + G2 + r"(?:swollen|swelling|"
    r"puffy|puffed up|swelled|blown up)",
    r"(?:swollen|puffy|puffed up) (?:\w+ )?(?:face|muzzle|snout|lips?|eyelids?|head|throat|tongue)",
    r"(?:visage|face|tete|museau|babines?|levres?|paupieres?|gorge|langue|truffe) "
    + G2
    + r"(?:gonfle\w*|enfle\w*|boursoufl\w*|oedemat\w*)",
    r"(?:gonflement|oedeme) (?:\w+ ){0,2}(?:du visage|de la face|de la tete|du museau|"
    r"des babines|des levres|des paupieres|de la gorge|de la langue)",
)
BREATHING_NOISE = (
    *RESPIRATORY,
    r"wheez\w+",
    r"noisy breathing",
    r"throat (?:is )?(?:closing|tight)",
    r"sifflement\w*",
    r"respir\w+ (?:bruyante?|sifflante?|bruyamment)",
)


# --------------------------------------------------------------------------------------------
# The rule table. Order is presentation order among flags of the same level.

RULES: tuple[Rule, ...] = (
    # ---- immediate (red, 0 min) --------------------------------------------------------------
    Rule(
        "respiratory_distress",
        IMMEDIATE,
        "Respiratory distress",
        RESPIRATORY,
    ),
    Rule(
        "cat_open_mouth_breathing",
        IMMEDIATE,
        "Cat panting / open-mouth breathing",
        (r"pant(?:s|ing|ed)?", r"halet\w*"),
        species=frozenset({Species.CAT}),
    ),
    Rule(
        "choking",
        IMMEDIATE,
        "Choking / airway obstruction",
        (
            r"chok(?:e|es|ed|ing)(?! (?:chain|collar|lead|leash))",
            r"(?:something|\w+) (?:is )?(?:stuck|lodged) in " + POSS_EN + r"(?:throat|windpipe)",
            r"etouff\w*",
            r"s'etrangl\w*",
            r"(?:coince|bloque)e?s? dans (?:la |sa )?gorge",
            r"fausse route",
        ),
    ),
    Rule(
        "cyanosis_pale_gums",
        IMMEDIATE,
        "Blue or pale gums (cyanosis / shock)",
        (
            r"(?:gums?|tongue|lips|mucous membranes?|membranes?) "
            + G3
            + r"(?:blue|bluish|purple|pale|white|grey|gray|greyish|whitish)",
            r"(?:blue|bluish|purple|pale|white|grey|gray|greyish|whitish) "
            r"(?:gums?|tongue|mucous membranes?)",
            r"cyano\w+",
            r"(?:gencives?|muqueuses?|langue|levres|babines) "
            + G3
            + r"(?:bleu\w*|violet\w*|pales?|blanche?s?|blancs?|gris\w*|mauve\w*)",
        ),
    ),
    Rule(
        "collapse",
        IMMEDIATE,
        "Collapse / fainting / shock",
        (
            r"(?<!tracheal )collaps(?:e|ed|es|ing)(?! trachea)",
            r"passed out",
            r"faint(?:ed|ing|s)",
            r"keeled over",
            r"fell (?:over|down) and (?:can't|cannot|won't|couldn't|didn't) get up",
            r"(?:in|into) shock",
            r"(?:s'est |s')?effondre\w*",
            r"(?:s'est |s')?ecroul\w*",
            r"evanou\w+",
            r"tombe dans les pommes",
            r"(?:fait|fais) (?:un |des )?malaises?",
            r"syncopes?",
            r"(?:en )?etat de choc",
        ),
    ),
    Rule(
        "unconscious",
        IMMEDIATE,
        "Unconscious / unresponsive",
        (
            r"unconscious\w*",
            r"unresponsive" + NOT_MED,
            r"(?:not|isn't|is not|stopped) responding" + NOT_MED,
            r"(?:won't|doesn't|does not|will not|can't|cannot) (?:wake up|wake|be woken)",
            r"(?:won't|doesn't|does not|isn't|not) respond\w* (?:to anything|at all|to touch|"
            r"to stimul\w+)",
            r"coma(?:tose)?",
            r"lost consciousness",
            r"lifeless",
            r"knocked out",
            r"inconscien\w+",
            r"(?:ne |n')?reagit (?:plus|pas|a rien)" + NOT_MED_FR,
            r"(?:ne |n')?repond (?:plus|pas)" + NOT_MED_FR,
            r"(?:ne |n')?se reveille (?:plus|pas)",
            r"(?:perte de|perdu|sans) connaissance",
            r"(?:est|reste|semble|completement|tout) inerte",
        ),
    ),
    Rule(
        "seizure_active_or_cluster",
        IMMEDIATE,
        "Seizure: ongoing, over 5 minutes, or clusters",
        (
            r"(?:is|he's|she's|it's|keeps|still|started|now) fitting",
            r"seizing",
            r"convulsing",
            r"(?:is|he's|she's|it's|currently|still|now) having (?:a )?(?:seizures?|fits?|"
            r"convulsions?)",
            r"seizures",
            r"convulsions",
            r"(?:having|had|has|several|multiple|many|repeated|[2-9]|two|three) fits",
            r"cluster (?:seizures?|fits?)",
            r"status epilepticus",
            r"(?:won't|will not|doesn't|does not|can't) stop "
            r"(?:shaking|seizing|convulsing|fitting)",
            r"seizure (?:\w+ ){0,2}(?:won't|will not|doesn't|does not|didn't) stop",
            r"seizure (?:for|lasting|lasted|that lasted|that has lasted|of|going on for) "
            r"(?:more than |over |about |almost |nearly |at least )?" + MIN5_EN + r" ?min\w*",
            r"(?:en train de |est en )(?:convulser|convulsion|crise)",
            r"(?<!a )(?<!avait )convulse",
            r"crises (?:d'epilepsie|epileptiques?|convulsives?|de convulsions?)",
            r"(?:[2-9]|deux|trois|quatre|plusieurs) crises"
            r"(?! (?:de toux|de foie|d'angoisse|de panique|d'asthme|de colere|d'allergie))",
            r"crises? (?:a repetition|en serie|rapprochees|successives)",
            r"crise " + G2 + r"(?:qui dure|de plus de|depuis plus de|depuis|pendant plus de|"
            r"pendant|de) " + MIN5_FR + r" ?min\w*",
            r"crise (?:qui ne s'arrete (?:pas|plus)|qui n'en finit pas|ininterrompue)",
            r"etat de mal (?:epileptique|convulsif)",
            r"(?:n')?arrete (?:pas|plus) de convulser",
        ),
        supersedes=("seizure",),
    ),
    Rule(
        "trauma_vehicle",
        IMMEDIATE,
        "Hit by a vehicle",
        (
            r"(?:hit|struck|knocked down|knocked over|clipped|run over) by " + POSS_EN + VEHICLE_EN,
            r"(?:was|got|been|were|be|being|is) run over",
            r"(?:car|road|traffic) accident",
            POSS_EN + VEHICLE_EN + r" (?:hit|ran over|struck|ran into)",
            r"renverse(?:e|s|es)? par (?:une |un |la |le )?" + VEHICLE_FR,
            r"(?:s'est fait|fait|a ete|ete|s'est faite) (?:renverser|renverse|percuter|percute|"
            r"ecraser|ecrase|heurter|faucher|fauche)e?",
            r"(?:percute|heurte|fauche|ecrase|touche)e?s? par (?:une |un |la |le )?" + VEHICLE_FR,
            r"accident (?:de (?:la )?(?:voiture|route|circulation)|avec une voiture)",
            r"voiture (?:l'a|lui a|lui est) (?:renverse|percute|heurte|ecrase|touche|rentre)",
        ),
    ),
    Rule(
        "trauma_fall",
        IMMEDIATE,
        "Fall from a height",
        (
            r"fell (?:from|off|out of) (?:a |the |an |our |my )?(?:\w+ )?(?:balcony|window|roof|"
            r"height|floor|storey|story|tree|terrace)",
            r"high rise syndrome",
            r"fall from (?:a )?height",
            r"(?:tombe|chute|tombee)s? (?:\w+ )?(?:du|d'un|d'une|de la|de l'|de|par la) ?(?:\w+ )?"
            r"(?:balcon|fenetre|toit|terrasse|etage|hauteur|arbre)",
            r"defenestr\w+",
        ),
    ),
    Rule(
        "animal_attack",
        IMMEDIATE,
        "Attacked by an animal",
        (
            r"attacked by (?:a |an |another |the |two |some |our |my |the neighbou?r'?s )?"
            r"(?:\w+ )?" + ANIMAL_EN,
            r"(?:dog|animal|coyote|fox) attack",
            r"mauled",
            r"attaquee?s? par (?:un |une |des |deux |le |la |les |l')?(?:autre )?(?:\w+ )?"
            + ANIMAL_FR,
            r"s'est fait(?:e)? attaquer",
            r"dechiquete\w*",
        ),
        supersedes=("bite_wound",),
    ),
    Rule(
        "penetrating_wound",
        IMMEDIATE,
        "Bite or penetrating wound to neck, chest or abdomen",
        (
            r"(?:bit|bitten) (?:\w+ ){0,4}(?:on|in|to) " + POSS_EN + TRUNK_EN,
            r"bite (?:wounds? )?(?:on|to|in) " + POSS_EN + TRUNK_EN,
            r"(?:neck|throat|chest|belly|abdominal) (?:bite|wound|puncture)s?",
            r"gunshot",
            r"(?:was|been|got|has been) shot",
            r"shot by",
            r"stabbed",
            r"stab wound",
            r"impaled",
            r"morsures? (?:\w+ ){0,3}(?:au|a la|sur le|sur la|dans le|dans la) " + TRUNK_FR,
            r"mordue? (?:\w+ ){0,4}(?:au|a la) " + TRUNK_FR,
            r"(?:blesse|touche)e? par (?:balle|un plomb|des plombs|un chasseur)",
            r"coup de (?:fusil|feu)",
            r"(?:embroche|empale)e?",
        ),
        supersedes=("bite_wound",),
    ),
    Rule(
        "heavy_bleeding",
        IMMEDIATE,
        "Heavy bleeding",
        (
            r"bleeding (?:very |really )?(?:heavily|profusely|a lot|badly|everywhere|non ?stop|"
            r"uncontrollably|like crazy)",
            r"(?:heavy|severe|major|massive|profuse|uncontrolled|serious|lots of) bleeding",
            r"(?:lots|a lot|loads|pool|puddle) of blood",
            r"blood everywhere",
            r"(?:spurting|gushing|pouring|pumping) (?:out )?blood",
            r"blood (?:is )?(?:spurting|gushing|pouring|pumping)",
            r"(?:won't|will not|doesn't|does not|can't|cannot|never) stop(?:s)? bleeding",
            r"bleeding (?:won't|will not|doesn't|does not|hasn't|has not) stop\w*",
            r"(?:can't|cannot) stop the bleeding",
            r"ha?emorrhag(?:e|es|ing)",
            r"saigne (?:beaucoup|abondamment|enormement|sans arret|sans s'arreter|partout|fort|"
            r"a flots|tres fort)",
            r"saignements? (?:abondants?|importants?|massifs?|enormes?|continus?)",
            r"hemorragies?",
            r"beaucoup de sang",
            r"(?:flaque|mare) de sang",
            r"(?:du )?sang partout",
            r"pisse le sang",
            r"(?:le )?sang (?:gicle|coule a flots|jaillit|ne s'arrete pas)",
            r"(?:ne s'arrete pas|n'arrete pas|n'arrete plus) de saigner",
            r"saignement (?:qui )?ne s'arrete (?:pas|plus)",
        ),
        supersedes=("bleeding",),
    ),
    Rule(
        "heatstroke",
        IMMEDIATE,
        "Heatstroke / hyperthermia",
        (
            r"heat ?stroke",
            r"heat exhaustion",
            r"over ?heat(?:ed|ing)",
            r"hypertherm\w+",
            r"(?:left|locked|stuck|shut|forgotten) in (?:a |the |my |our )?(?:hot )?car",
            r"(?:temperature|temp|fever|fievre)\D{0,15}(?<!\d)(?:4[1-5]|10[5-9]|11[0-2])"
            r"(?:[.,]\d+)?(?!\d)",
            r"4[1-5](?:[.,]\d+)? ?(?:°|degrees?|degres?|deg) ?c?",
            r"1(?:0[5-9]|1[0-2])(?:[.,]\d+)? ?(?:°|degrees?|deg) ?f",
            r"coups? de chaleur",
            r"(?:enferme|laisse|oublie|reste|coince)e?s? dans (?:la|une|ma|notre|sa) voiture",
        ),
    ),
    Rule(
        "hypothermia",
        IMMEDIATE,
        "Hypothermia / cold exposure",
        (
            r"hypotherm\w+",
            r"(?:ice|icy|freezing|stone|very|really|extremely) cold (?:to the touch|body)",
            r"(?:body|he|she|it|he's|she's|it's) (?:is |feels |felt |was )?(?:ice|icy|freezing|"
            r"stone) cold",
            r"cold to the touch",
            r"(?:fell|fallen|was|been) (?:in|into|through) (?:the )?(?:icy|freezing|frozen|"
            r"ice cold) (?:water|lake|river|pond|pool)",
            r"(?:fell|fallen) through (?:the )?ice",
            r"frost ?bite",
            r"(?:his|her|its|body|rectal|core) temp(?:erature)?\D{0,15}(?<!\d)(?:2\d|3[0-5])"
            r"(?:[.,]\d+)?(?!\d)",
            r"(?:tout|toute) (?:froide?|glacee?|gelee?)",
            r"(?:il|elle|corps) (?:est )?(?:tres |completement )?(?:glacee?|gelee?)",
            r"froide? au toucher",
            r"(?:sa temperature|temperature (?:rectale|corporelle))\D{0,15}(?<!\d)(?:2\d|3[0-5])"
            r"(?:[.,]\d+)?(?!\d)",
            r"(?:engelures?|gelures?)",
            r"tombe dans (?:l'eau|un lac|le lac|la riviere|une riviere|la piscine|l'etang) "
            r"(?:glacee?|gelee?|froide?)",
        ),
    ),
    Rule(
        "poisoning",
        IMMEDIATE,
        "Poisoning / toxin ingestion",
        (
            r"(?<!food )poison(?:ed|ing|s|ous)?",
            r"toxi(?:c|n|ns|que|ques|city|cite)",
            r"intoxi\w+(?! alimentaire)",
            r"(?:rat|mouse|rodent|slug|snail) (?:bait|pellets?|killer|poison)",
            r"rodenticide",
            r"anti ?freeze",
            r"ethylene glycol",
            r"metaldehyde",
            r"(?:ibuprofen\w*|paracetamol|acetaminophen|tylenol|advil|nurofen|naproxen|aleve|"
            r"diclofenac|doliprane|dafalgan|efferalgan|aspirin\w*|anti inflammatoires?)",
            r"(?:ate|eaten|eat|swallowed|chewed|got into|licked|a mange|a avale|a croque|a lech\w+|"
            r"a pris|avale|mange) (?:\w+ ){0,3}(?:pills?|tablets?|medications?|medicines?|meds|"
            r"drugs|cannabis|weed|marijuana|edibles?|cocaine|nicotine|cigarettes?|vape|e liquid|"
            r"bleach|detergent|insecticide|pesticide|herbicide|weedkiller|fertili[sz]er|"
            r"mushrooms?|medicaments?|comprimes?|cachets?|pilules?|gelules?|shit|beuh|javel|"
            r"lessive|detergents?|insecticides?|pesticides?|desherbant|engrais|champignons?)",
            r"toads?",
            r"processionary",
            r"lily of the valley",
            r"foxglove",
            r"oleander",
            r"sago palm",
            r"autumn crocus",
            r"empoisonn\w+",
            r"mort aux rats",
            r"(?:raticide|souricide)s?",
            r"anti ?limaces?",
            r"anti ?gel",
            r"crapauds?",
            r"(?:chenilles? )?processionnaires?",
            r"muguet",
            r"laurier rose",
            r"digitale",
            r"colchique",
        ),
    ),
    Rule(
        "lily_ingestion",
        # Cats: every part of the plant, pollen and vase water included, causes acute kidney
        # failure within 12-72 h. Dogs: mild stomach upset only. Other species: not established,
        # so urgent rather than standard.
        URGENT,
        "Lily exposure (kidney failure in cats)",
        (
            r"lil(?:y|ies|ys)",
            r"daylil(?:y|ies)",
            r"hemerocall\w*",
            r"lilium",
            r"lys",
            r"(?<!je )(?<!tu )"
            r"(?:un|des|les|le|du|de|d'|aux|au|fleurs? de|pollen de|bouquet de) ?lis",
        ),
        species_levels=_levels(cat=IMMEDIATE, dog=STANDARD),
    ),
    Rule(
        "permethrin_cat",
        IMMEDIATE,
        "Permethrin / dog flea product on a cat",
        (
            r"permethrin\w*",
            r"dog (?:flea |tick )?(?:treatment|spot ?on|drops|pipette|product|shampoo|collar)"
            r"(?: \w+){0,3} (?:on|to) (?:the |my |our |her |his )?cat",
            r"(?:flea|tick) (?:treatment|spot ?on|drops|pipette|product) "
            r"(?:meant |made |intended )?for dogs",
            r"(?:pipette|traitement|produit|antiparasitaire|collier) (?:anti ?puces? )?"
            r"(?:pour|de|du) chiens?",
        ),
        species=frozenset({Species.CAT}),
    ),
    Rule(
        "xylitol",
        # Dogs: insulin release, hypoglycaemia within 10-60 min, liver necrosis above 0.5 g/kg.
        # Cats appear far less sensitive: urgent, not immediate.
        URGENT,
        "Xylitol / sugar-free product ingestion",
        (
            r"xylitol",
            r"birch sugar",
            r"e ?967",
            r"sugar ?free",
            r"(?:chewing|bubble|nicotine) gums?",
            r"(?:packet|pack|piece|pieces|stick|sticks) of gum",
            r"(?:ate|eaten|swallowed|chewed) (?:\w+ )?gum",
            r"sucre de bouleau",
            r"gommes? a macher",
            r"sans sucres?(?! ajoutes)",
        ),
        species_levels=_levels(dog=IMMEDIATE),
    ),
    Rule(
        "grapes_raisins",
        # Dogs: idiosyncratic acute kidney injury (vomiting in 6-12 h, anuria in 24-72 h), no
        # safe dose. Reported in cats and ferrets too, less established: urgent.
        URGENT,
        "Grapes / raisins / currants / tamarind",
        (
            r"grapes?",
            r"raisins?",
            r"sultanas?",
            r"currants?",
            r"tamarinds?",
            r"tamarin\w*",
        ),
        species_levels=_levels(dog=IMMEDIATE),
    ),
    Rule(
        "chocolate_dark",
        IMMEDIATE,
        "Dark / baking chocolate or cocoa",
        (
            r"(?:dark|baking|baker's|bakers|cooking|plain|bitter|bittersweet|semi ?sweet|"
            r"unsweetened|\d{2} ?%) chocolate",
            r"cocoa(?! butter)",
            r"(?<!beurre de )cacao",
            r"chocolat (?:noir|amer|patissier|a cuire|de cuisine|dessert|corse|extra noir|"
            r"a patisser|\d{2} ?%)",
        ),
        supersedes=("chocolate",),
    ),
    Rule(
        "chocolate",
        # Theobromine dose unknown (milk or unspecified chocolate): decontamination is useful
        # within 1-2 h and signs start in 6-12 h, so very urgent rather than immediate.
        VERY_URGENT,
        "Chocolate ingestion (type or amount unknown)",
        (
            r"chocolates?",
            r"chocolats?",
            r"brownies?",
        ),
    ),
    Rule(
        "gdv",
        IMMEDIATE,
        "Bloat / gastric dilatation-volvulus",
        (
            r"bloat",
            r"gdv",
            r"(?:gastric|stomach) (?:torsion|dilatation|dilation|volvulus)",
            r"twisted (?:stomach|gut)",
            r"stomach (?:has )?twisted",
            r"(?:retournement|torsion|dilatation) (?:de l'|d')estomac",
            r"dilatation torsion",
            r"sdte?",
        ),
        species=frozenset({Species.DOG, Species.RABBIT}),
        supersedes=("distended_abdomen",),
    ),
    Rule(
        "gdv_signs",
        IMMEDIATE,
        "Retching or drooling with a distended abdomen (GDV signs)",
        RETCH_ANY,
        also=(DISTENSION,),
        species=frozenset({Species.DOG}),
        supersedes=("distended_abdomen",),
    ),
    Rule(
        "unproductive_retching",
        # Dogs: the cardinal GDV sign. Cats and others: hairballs, nausea: urgent.
        URGENT,
        "Unproductive retching",
        RETCH_UNPRODUCTIVE,
        species_levels=_levels(dog=IMMEDIATE),
        supersedes=("vomiting",),
    ),
    Rule(
        "urinary_obstruction",
        IMMEDIATE,
        "Unable to urinate (urethral obstruction)",
        (
            CANT_EN + r" (?:pee|wee|urinate|pass urine|go pee|do a wee)",
            r"(?:not|isn't|isnt|is not|hasn't|hasnt|has not|hasn't been|has not been|not been|"
            r"didn't|did not|doesn't|does not|won't|no longer) (?:peeing|urinating|peed|urinated|"
            r"pee|urinate|wee|weeing|weed|passing (?:any )?urine|passed (?:any )?urine|"
            r"producing (?:any )?urine)" + NOT_INDOORS_EN,
            r"no (?:urine|pee|wee)(?! (?:accidents?|marks?|smell|stains?|on|in the house))",
            r"(?:straining|strains|strained|pushing|squatting|trying to (?:pee|urinate|wee)),? "
            r"(?:\w+ ){0,5}(?:nothing|no urine|no pee|not a drop|without (?:any )?(?:urine|pee|"
            r"result|success|producing)|but (?:can't|cannot|doesn't|does not|isn't|nothing))",
            r"(?:urinary|urethral) (?:blockage|obstruction|block)",
            r"(?:blocked|obstructed) (?:bladder|urethra)",
            r"(?:bladder|urethra) (?:is )?(?:blocked|obstructed)",
            r"anuri\w*",
            r"urinary retention",
            CANT_FR + r" (?:uriner|faire pipi|pisser)",
            r"(?:ne |n')?(?:fait|faisait) (?:toujours |encore )?(?:plus|pas|rien) (?:de )?pipi"
            + NOT_INDOORS_FR,
            r"(?:n'|ne )urine (?:toujours |encore |presque |quasiment )?(?:plus|pas|rien)"
            + NOT_INDOORS_FR,
            r"(?:pas|plus|aucune?) (?:d'|de )?(?:urine|pipi)" + NOT_INDOORS_FR,
            r"(?:pousse|force|forcer|pousser|s'accroupit|accroupie?),? (?:\w+ ){0,5}"
            r"(?:rien ne sort|sans (?:rien|resultat|succes|uriner|faire pipi)|pas une goutte|"
            r"mais rien|et rien)",
            r"obstruction (?:urinaire|uretrale|de l'uretre)",
            r"(?:retention|blocage) (?:urinaire|d'urine)",
            r"globe vesical",
        ),
        supersedes=("urinary_straining", "urinary_straining_male_cat"),
    ),
    Rule(
        "urinary_blocked_male_cat",
        IMMEDIATE,
        "Male cat described as 'blocked' (urethral obstruction)",
        (
            r"(?:he's|he is|he was|he got|he gets|he's been|he has been|cat is|cat was|cat got|"
            r"cat has been|got|gets|again|re) blocked",
            r"blocked (?:cat|tom|male)",
            r"(?:il est|il s'est|chat est|chat s'est|il semble|il a l'air|encore|de nouveau|re) "
            r"?bloque(?! (?:dans|sous|par|derriere|entre|a l'exterieur|dehors))",
            r"bloque (?:urinaire|de la vessie|pour (?:uriner|faire pipi)|au niveau urinaire)",
        ),
        species=frozenset({Species.CAT}),
        sexes=MALE_OR_UNKNOWN,
        supersedes=("urinary_straining", "urinary_straining_male_cat"),
    ),
    Rule(
        "urinary_straining_male_cat",
        # A male cat straining without evidence that urine is still passing is treated as
        # obstructed until examined: hyperkalaemia can stop the heart within hours.
        IMMEDIATE,
        "Male cat straining to urinate (possible obstruction)",
        STRAIN,
        species=frozenset({Species.CAT}),
        sexes=MALE_OR_UNKNOWN,
        unless=STILL_URINATING,
        supersedes=("urinary_straining",),
    ),
    Rule(
        "eye_proptosis",
        IMMEDIATE,
        "Eye out of its socket (proptosis)",
        (
            r"eye (?:\w+ ){0,2}(?:popped|popping|bulging|hanging|came|come|is|coming) out",
            r"eye ?ball (?:\w+ ){0,2}out",
            r"eye (?:\w+ )?(?:out of|outside) (?:its|the) socket",
            r"propto\w+",
            r"(?:oeil|globe oculaire) (?:\w+ ){0,2}(?:sorti|sort|hors de (?:son|l') ?orbite)",
            r"exorbite\w*",
            r"luxation (?:du globe|de l'oeil|oculaire)",
        ),
    ),
    Rule(
        "prolapse",
        IMMEDIATE,
        "Prolapsed organ",
        (
            r"(?<!eyelid )(?<!gland )(?<!nictitans )prolaps\w*\b"
            r"(?! (?:of )?(?:the )?(?:third eyelid|nictitans|gland|nictitating|eyelid))",
            r"(?:something|tissue|organ|(?:a )?(?:pink|red) (?:mass|lump|tube|thing)) "
            r"(?:\w+ ){0,2}(?:coming|sticking|hanging|poking|protruding) out (?:of|from) "
            r"(?:his |her |its |the )?"
            r"(?:bottom|bum|butt|anus|rectum|vagina|vulva|back end|rear|penis|uterus)",
            r"(?:rectum|uterus|womb|bowel|intestines?|guts) (?:\w+ ){0,2}(?:hanging out|"
            r"coming out|protruding|is out|outside)",
            r"paraphimosis",
            r"prolapsus\b(?! (?:de la )?(?:glande|membrane nictitante|troisieme paupiere))",
            r"(?:quelque chose|une masse|une boule|un boudin|un tube) (?:\w+ ){0,3}(?:sort|sortir|"
            r"depasse|pend) (?:de l'|du|de la|par l'|par le|par la) ?(?:anus|rectum|vagin|vulve|"
            r"derriere|fesses|sexe|penis|fourreau|uterus)",
            r"(?:rectum|uterus|intestins?|boyaux?) (?:\w+ ){0,2}(?:sorti|sort|a l'exterieur|pend)",
        ),
    ),
    Rule(
        "dystocia",
        IMMEDIATE,
        "Difficult birth (dystocia)",
        (
            r"dystoci\w*",
            r"(?:difficult|obstructed|stuck|prolonged|hard) (?:birth|labou?r|delivery|whelping|"
            r"kittening|queening)",
            r"(?:puppy|kitten|baby|foal|kit|kid|lamb) (?:\w+ ){0,2}(?:stuck|lodged|half out|"
            r"halfway out|partly out)",
            r"(?:straining|pushing|contractions?) (?:\w+ ){0,3}(?:without|but no|and no|with no) "
            r"(?:\w+ )?(?:puppy|puppies|kitten|kittens|baby|babies|delivery|progress)",
            CANT_EN + r" (?:give birth|deliver|push (?:\w+ )?out)",
            r"(?:in labou?r|whelping|giving birth|queening|kittening) (?:\w+ ){0,2}(?:for )?"
            r"(?:over |more than |about |nearly )?(?:\d+|two|three|four|five|six|several|many) "
            r"(?:hours?|hrs?)",
            r"dystocie",
            r"(?:mise bas|accouchement|parturition) (?:\w+ )?(?:difficile|bloquee|qui n'avance pas|"
            r"longue|prolongee)",
            r"(?:chiot|chaton|petit|bebe|lapereau|poulain) (?:\w+ ){0,2}(?:coince|bloque|"
            r"a moitie sorti|engage)",
            CANT_FR + r" (?:mettre bas|accoucher|expulser)",
            r"(?:pousse|contractions?|efforts? expulsifs?) (?:\w+ ){0,3}(?:sans|mais pas de|"
            r"mais aucun|et aucun|sans qu'aucun) (?:\w+ )?(?:chiot|chaton|petit|bebe|naissance|"
            r"expulsion)",
            r"(?:en travail|met bas|en train de mettre bas) (?:\w+ )?depuis (?:plus de |presque |"
            r"environ )?(?:\d+|deux|trois|quatre|cinq|six|plusieurs) ?(?:heures?|h)",
        ),
    ),
    Rule(
        "snakebite",
        IMMEDIATE,
        "Snakebite",
        (
            r"snake ?bites?",
            r"(?:bitten|bit|struck) by (?:a |an )?(?:\w+ )?"
            r"(?:snake|adder|viper|rattlesnake|rattler|copperhead|cottonmouth)",
            r"(?:adder|viper|rattlesnake|copperhead|cottonmouth|water moccasin)s?",
            r"morsure (?:de |d')(?:serpent|vipere|aspic)",
            r"mordue? par (?:un |une )?(?:serpent|vipere|aspic)",
            r"viperes?",
            r"serpents?",
        ),
        supersedes=("bite_wound",),
    ),
    Rule(
        "burns",
        IMMEDIATE,
        "Burns / scald / electrocution / smoke",
        (
            r"burn(?:s|ed|t)?(?! (?:off|calories|energy|through))",
            r"scald(?:s|ed|ing)?",
            r"electrocut\w+",
            r"electric(?:al)? shock",
            r"(?:chewed|bit|bitten|chewing) (?:\w+ ){0,2}(?:electric(?:al)? )?(?:cable|cord|wire|"
            r"plug)",
            r"smoke inhalation",
            r"(?:inhaled|breathed in) (?:\w+ )?smoke",
            r"house fire",
            r"brul(?:e|ee|es|ees|ure|ures)(?! d'estomac)",
            r"ebouillant\w*",
            r"(?:decharge|choc) electrique",
            r"(?:mordu|mordille|mache|croque) (?:\w+ ){0,2}(?:cable|fil electrique|prise)",
            r"incendie",
            r"(?:inhale|respire) (?:de la |beaucoup de )?fumee",
        ),
    ),
    Rule(
        "anaphylaxis",
        IMMEDIATE,
        "Severe allergic reaction (anaphylaxis)",
        (
            r"anaphyla\w+",
            r"allergic shock",
            r"choc allergique",
            r"oedeme de quincke",
        ),
        supersedes=("face_swelling",),
    ),
    Rule(
        "allergic_swelling_breathing",
        IMMEDIATE,
        "Facial swelling with breathing difficulty (severe allergic reaction)",
        FACE_SWELLING,
        also=(BREATHING_NOISE,),
        supersedes=("face_swelling",),
    ),
    # ---- very urgent (orange, 15 min) --------------------------------------------------------
    Rule(
        "seizure",
        # A single seizure that has stopped: no longer immediately life-threatening, but a first
        # seizure may be a toxin or hypoglycaemia and clusters often follow: very urgent.
        VERY_URGENT,
        "Seizure (single, ended)",
        (
            r"seizure",
            r"(?:had|has|having) (?:a )?fit",
            r"convulsion",
            r"epileptic (?:fit|episode|attack)",
            r"crise (?:d'epilepsie|epileptique|convulsive|de convulsions?)",
            r"a convulse",
        ),
    ),
    Rule(
        "distended_abdomen",
        # Dogs: a distended abdomen may be an early GDV even before retching is noticed;
        # rabbits: bloat. Others (ascites, pregnancy, constipation): urgent.
        URGENT,
        "Distended / bloated abdomen",
        DISTENSION,
        species_levels=_levels(dog=VERY_URGENT, rabbit=VERY_URGENT),
    ),
    Rule(
        "vomiting_blood",
        # Haematemesis: GI ulceration, coagulopathy (rodenticide) or foreign body; can precede
        # hypovolaemic shock: very urgent.
        VERY_URGENT,
        "Vomiting blood",
        (
            r"(?:vomit\w*|throw\w* up|threw up|puk\w*|sick) (?:\w+ ){0,2}blood",
            r"blood (?:\w+ ){0,2}(?:in|on) (?:\w+ ){0,2}(?:vomit|sick)",
            r"bloody vomit\w*",
            r"coffee grounds?",
            r"ha?ematemesis",
            r"vomi\w* (?:\w+ ){0,2}(?:du )?sang",
            r"sang dans (?:\w+ ){0,2}vomi\w*",
            r"vomissements? (?:sanglants?|avec du sang|hemorragiques?|rouges?)",
            r"hematemese",
        ),
        supersedes=("vomiting",),
    ),
    Rule(
        "bloody_diarrhoea",
        # Haemorrhagic diarrhoea (AHDS, parvovirus) can cause hypovolaemic shock within hours,
        # fastest in puppies and small dogs; melaena means upper-GI bleeding: very urgent.
        VERY_URGENT,
        "Bloody diarrhoea / blood in stool",
        (
            r"(?:bloody|blood ?stained|red|haemorrhagic|hemorrhagic) " + STOOL_EN,
            r"diarrh\w+ (?:\w+ ){0,2}(?:with|containing|full of|and) (?:\w+ )?blood",
            r"blood (?:\w+ ){0,2}(?:in|on|with) (?:\w+ ){0,2}" + STOOL_EN,
            r"(?:pooping|pooing|passing) blood",
            r"(?:black|tarry|tar like) " + STOOL_EN,
            r"ha?ematochezi\w*",
            r"mela?ena",
            r"raspberry jam",
            r"diarrhees? (?:\w+ ){0,2}(?:sanglantes?|hemorragiques?|avec du sang|pleines? de sang|"
            r"rouges?|noires?)",
            r"sang (?:\w+ ){0,2}dans (?:\w+ ){0,2}(?:selles|crottes|caca|excrements|diarrhee)",
            r"(?:selles|crottes|caca) (?:\w+ ){0,2}(?:sanglant\w*|avec du sang|pleine?s? de sang|"
            r"rouges|noires|goudronneuses)",
            r"fait (?:caca )?du sang",
            r"hematochezie",
        ),
        supersedes=("diarrhoea",),
    ),
    Rule(
        "paralysis",
        # Sudden paralysis: intervertebral disc extrusion (surgical window while deep pain is
        # present) or feline aortic thromboembolism; time-sensitive but breathing and
        # circulation are usually intact at presentation: very urgent.
        VERY_URGENT,
        "Paralysis / unable to walk or stand",
        (
            r"paraly[sz]\w*",
            r"(?:can't|cannot|can not|unable to|isn't able to|not able to|won't|will not|doesn't|"
            r"does not|no longer) (?:walk|stand|stand up|get up|"
            r"move (?:his|her|its) (?:back |hind |rear )?legs|"
            r"use (?:his|her|its) (?:back |hind |rear )?legs)",
            r"(?:not|isn't|stopped|no longer) (?:walking|standing)(?! (?:still|straight|much))",
            r"dragging (?:his |her |its |the )?(?:back |hind |rear )?(?:legs|end|paws|feet|body)",
            r"(?:back|hind|rear) (?:legs|end) (?:\w+ ){0,2}(?:not working|stopped working|gave out|"
            r"gave way|collapsed|limp|useless|cold|dragging|gone)",
            r"lost (?:the )?use of (?:his |her |its )?(?:\w+ )?legs",
            r"paralys\w+",
            CANT_FR + r" (?:marcher|se lever|tenir debout|se mettre debout|bouger les pattes)",
            r"(?:il|elle|chien|chat|lapin|qui) (?:ne |n')?(?:marche|se leve|se releve) (?:plus|pas)"
            r"(?! (?:en place|beaucoup|longtemps|trop))",
            r"(?:ne |n')?tient (?:plus|pas) (?:sur ses pattes|debout)",
            r"(?:traine|trainant) (?:ses|les) (?:pattes|membres|arriere|fesses)",
            r"(?:pattes|train) (?:arrieres?|posterieures?) (?:\w+ ){0,2}(?:paralysees?|"
            r"ne (?:repondent|fonctionnent|tiennent) plus|inertes?|lache\w*|froides?|molles?)",
            r"perte (?:de l'usage )?des pattes arrieres?",
            r"plus de pattes arrieres?",
        ),
        supersedes=("lameness", "lameness_severe"),
    ),
    Rule(
        "rabbit_gi_stasis",
        # Rabbits and guinea pigs that stop eating or passing droppings develop GI stasis and
        # hepatic lipidosis within a day: very urgent for these species only.
        VERY_URGENT,
        "Rabbit / rodent not eating or no droppings (GI stasis)",
        (
            r"(?:not|isn't|hasn't|has not|stopped|won't|refuses to|refusing to|no longer|"
            r"hasn't been|doesn't|does not) (?:eating|eaten|eat|pooping|pooped|poop|producing "
            r"(?:any )?(?:droppings|poops?))",
            r"no (?:droppings|poops?|poo|faecal pellets|fecal pellets|appetite)",
            r"off (?:his|her|its) food",
            r"(?:ne |n')?mange (?:plus|pas|rien)",
            r"(?:arrete|refuse) de manger",
            r"(?:pas|plus|aucune?) (?:de )?(?:crottes|crottins|appetit)",
            r"(?:ne |n')?fait (?:plus|pas) de crottes",
            r"anorexi\w+",
            r"stase (?:digestive|intestinale|gastro intestinale)",
            r"(?:gi|gut) stasis",
        ),
        species=frozenset({Species.RABBIT, Species.RODENT}),
    ),
    # ---- urgent (yellow, 30-60 min) ----------------------------------------------------------
    Rule(
        "vomiting_repeated",
        # Repeated vomiting: dehydration, obstruction, pancreatitis; not life-threatening within
        # minutes without shock signs (those have their own rules): urgent, as in the VTL.
        URGENT,
        "Repeated vomiting",
        (
            r"(?:vomit\w*|throw\w* up|threw up|been sick|puk\w*|sick) (?:\w+ ){0,2}(?:repeatedly|"
            r"constantly|non ?stop|over and over|again and again|all (?:day|night|morning|"
            r"evening)|every (?:hour|few minutes|half hour|\d+ (?:minutes|hours))|" + N3_EN + r" "
            r"times)",
            r"(?:keeps|kept|keep|constantly|repeatedly|continuously|won't stop|can't stop|"
            r"doesn't stop|hasn't stopped|never stops) (?:on )?(?:vomit\w*|throwing up|"
            r"being sick|puking)",
            r"(?:repeated|persistent|constant|continuous|frequent|recurrent|multiple|severe|"
            r"uncontrollable|projectile) (?:vomit\w*|episodes of vomiting|throwing up)",
            r"(?:vomits|throws up|brings up|vomiting|vomited|throwing up|threw up) (?:up )?"
            r"(?:everything|all (?:his|her|its) (?:food|water)|all food|even water)",
            r"can't keep (?:\w+ ){0,2}(?:down|anything)",
            N3_EN + r" (?:times|episodes) (?:\w+ )?(?:vomit\w*|throw\w* up|threw up|been sick)",
            r"vomi\w* (?:\w+ ){0,2}(?:sans arret|sans cesse|en continu|tout le temps|"
            r"a repetition|repetes?|plusieurs fois|de nombreuses fois|toute la (?:journee|nuit|"
            r"matinee)|toutes les (?:heures|\d+ minutes|demi heures)|" + N3_FR + r" fois)",
            r"vomissements? (?:repetes?|a repetition|incoercibles?|incessants?|frequents?|"
            r"persistants?|continus?|multiples?|repetitifs?|en serie)",
            r"(?:n')?arrete (?:pas|plus) de vomir",
            r"(?:vomit|rend|rejette|regurgite) (?:\w+ ){0,2}"
            r"(?:tout|meme l'eau|toute sa nourriture)",
            r"(?:ne )?garde (?:rien|plus rien|pas l'eau)",
            N3_FR + r" vomissements",
        ),
        supersedes=("vomiting",),
    ),
    Rule(
        "urinary_straining",
        # Straining while still passing urine (cystitis, urolithiasis): within hours, urgent.
        URGENT,
        "Straining to urinate, still passing urine",
        (*STRAIN, *STILL_URINATING),
    ),
    Rule(
        "blood_in_urine",
        # Haematuria alone (cystitis, urolithiasis) is not shock-inducing: urgent.
        URGENT,
        "Blood in urine",
        (
            r"blood " + G2 + r"(?:in|on) " + G2 + r"(?:urine|pee|wee|litter)",
            r"(?:bloody|red|pink|reddish|dark red) " + URINE_EN,
            URINE_EN + r" " + G2 + r"(?:red|pink|bloody|reddish|tinged with blood|blood ?tinged)",
            r"(?:peeing|urinating|pees|urinates|peed|urinated|weeing|wees) (?:\w+ )?blood",
            r"ha?ematuri\w*",
            r"sang " + G2 + r"dans " + G2 + r"(?:urines?|pipi|litiere)",
            r"(?:urines?|pipi) "
            + G2
            + r"(?:rouges?|rosees?|roses?|sanglantes?|avec du sang|teintees? de sang|"
            r"pleine? de sang|sanguinolentes?)",
            r"(?:urine|pisse|fait pipi) du sang",
            r"hematurie",
        ),
    ),
    Rule(
        "bite_wound",
        # Bites elsewhere than neck/chest/abdomen: the skin hides deep damage and infection,
        # surgical exploration is often needed the same day: urgent.
        URGENT,
        "Bite wound",
        (
            r"(?:bitten|bit) by " + POSS_EN + r"(?:other |another |neighbou?r'?s )?(?:\w+ )?"
            r"(?:dog|cat|fox|rat|animal|ferret|rabbit)",
            r"bite wounds?",
            r"dog fight",
            r"(?:got into|was in|had|in) a fight with (?:a |another |the )?(?:\w+ )?(?:dog|cat)",
            r"mordue? par (?:un |une |le |la |des |l'|son |un autre )?(?:\w+ )?"
            r"(?:chien|chat|renard|rat|animal|furet|lapin)",
            r"morsures?",
            r"s'est fait(?:e)? mordre",
            r"(?:bagarre|battue?) avec (?:un |une |le |des |l'|un autre )?(?:\w+ )?(?:chien|chat)",
        ),
    ),
    Rule(
        "bleeding",
        # Bleeding of unstated severity: urgent; heavy bleeding is its own immediate rule.
        URGENT,
        "Bleeding (amount not stated)",
        (
            r"bleed(?:s|ing)?",
            r"bled",
            r"nose ?bleeds?",
            r"saign\w*",
        ),
    ),
    Rule(
        "face_swelling",
        # Facial swelling or hives without breathing difficulty: can progress, urgent.
        URGENT,
        "Facial swelling / hives (allergic reaction)",
        (
            *FACE_SWELLING,
            r"hives",
            r"urticaria",
            r"(?:bee|wasp|hornet|insect) stings?",
            r"stung by",
            r"urticaire",
            r"piqu\w+ (?:de |d'|par )?(?:une |un )?(?:guepe|abeille|frelon|insecte)",
        ),
    ),
    Rule(
        "lameness_severe",
        # Non-weight-bearing lameness or a suspected fracture: urgent (pain, possible fracture).
        URGENT,
        "Non-weight-bearing lameness / suspected fracture",
        (
            r"(?:won't|will not|doesn't|does not|can't|cannot|not|isn't|refuses to|unable to) "
            r"(?:put|putting|bear|bearing|use|using|place|placing|touch|touching) (?:any )?weight",
            r"(?:non|not) weight bearing",
            r"(?:holding|holds|carrying|carries|keeps) (?:\w+ ){0,2}(?:leg|paw|foot) (?:up|raised)",
            r"(?:broken|fractured) (?:\w+ )?(?:leg|paw|bone|hip|pelvis|jaw|tail)",
            r"fractur\w+",
            r"dangling (?:leg|paw)",
            r"(?:leg|paw) (?:\w+ )?(?:dangling|hanging|at a (?:weird|strange|odd) angle)",
            r"(?:ne |n')?(?:pose|posait|met|appuie) (?:plus|pas|jamais) (?:la|sa|le|son) "
            r"(?:patte|pied|membre)",
            r"(?:porte|tient|garde) (?:la|sa) patte (?:en l'air|levee|relevee|repliee)",
            r"(?:patte|os|jambe|bassin|machoire|queue) (?:\w+ )?(?:cassee?|fracturee?)",
        ),
        supersedes=("lameness",),
    ),
    Rule(
        "foreign_body",
        # Swallowed object: obstruction or perforation develops over hours; decontamination
        # or endoscopy is time-sensitive: urgent.
        URGENT,
        "Swallowed foreign object",
        (
            r"(?:ate|eaten|swallowed|swallowing|gulped down) "
            + POSS_EN
            + r"(?:whole )?(?:\w+ ){0,2}"
            r"(?:socks?|toys?|balls?|stones?|rocks?|string|thread|needle|fish ?hook|hook|corn cob|"
            r"cob|batter(?:y|ies)|magnets?|coins?|hair tie|elastic band|rubber band|underwear|"
            r"tampon|ribbon|tinsel|skewer|kebab stick|bone|toothpick)",
            r"foreign body",
            r"(?:a avale|avale|a mange|a ingere) (?:un |une |des |le |la |les |sa |son |ses )?"
            r"(?:\w+ )?(?:chaussettes?|jouets?|balles?|cailloux|caillou|pierres?|ficelle|fil|"
            r"aiguille|hamecon|epi de mais|os|piles?|aimants?|pieces?|elastique|brochette|"
            r"cure dent|collant|culotte|ruban)",
            r"corps etranger",
        ),
    ),
    # ---- standard (green): listed for the vet, they do not raise the level ------------------
    Rule(
        "vomiting",
        STANDARD,
        "Vomiting",
        (
            r"vomit\w*",
            r"throw(?:s|ing)? up",
            r"threw up",
            r"puk(?:e|es|ed|ing)",
            r"(?:been|being) sick",
            r"regurgit\w+",
            r"vomi\w*",
        ),
    ),
    Rule(
        "diarrhoea",
        STANDARD,
        "Diarrhoea",
        (
            r"diarrh\w+",
            r"(?:loose|runny|watery|liquid) (?:stools?|poo+s?|poop|faeces|feces|motions)",
            r"the runs",
            r"selles (?:molles|liquides)",
            r"caca (?:mou|liquide)",
            r"chiasse",
        ),
    ),
    Rule(
        "lameness",
        STANDARD,
        "Lameness / limping",
        (
            r"limp(?:s|ing|ed)?",
            r"lame(?:ness)?",
            r"favou?ring (?:\w+ ){0,2}(?:leg|paw|foot)",
            r"(?:(?<=\bil )|(?<=\belle )|(?<=\bne )|(?<=\bqui )|(?<=\bn')|(?<=\bchien )|"
            r"(?<=\bchat )|(?<=\bet ))"
            r"boit(?:e|ent|ait|ille|illait)",
            r"boite (?:\w+ )?(?:de|sur|d'une|d'un|du|des) (?:la |sa |son )?(?:patte|pattes|"
            r"anterieur|posterieur|jambe|membre|pied|arriere|avant)",
            r"boiteri\w*",
            r"boiteu(?:x|se)",
            r"boitill\w+",
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# Compilation and matching.


def _compile(group: Iterable[str]) -> re.Pattern[str]:
    """One regex for a group of alternatives, bounded by word edges; gap words expanded.

    The leading word-edge test sits outside the alternation so that positions inside a word
    are rejected once, not once per alternative.
    """
    alternatives = "|".join(f"(?:{p.replace(r'(?:\w+ )', _UNIT)})" for p in group)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    groups: tuple[re.Pattern[str], ...]
    unless: re.Pattern[str] | None


def _build(rules: tuple[Rule, ...]) -> tuple[_Compiled, ...]:
    codes = [r.code for r in rules]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise ValueError(f"duplicate rule codes: {duplicates}")
    known = set(codes)
    for r in rules:
        unknown = set(r.supersedes) - known
        if unknown:
            raise ValueError(f"{r.code} supersedes unknown rules: {sorted(unknown)}")
    return tuple(
        _Compiled(
            rule=r,
            groups=tuple(_compile(g) for g in (r.patterns, *r.also)),
            unless=_compile(r.unless) if r.unless else None,
        )
        for r in rules
    )


_COMPILED = _build(RULES)

_TOKEN = re.compile(r"[\w']+")
_CLAUSE_BREAK = re.compile(
    r"[.;:!?,()\[\]\n/]|\b(?:and|but|however|though|although|then|yet|whereas|et|mais|puis|"
    r"cependant|pourtant|alors|sauf|tandis)\b"
)
_NEG_WINDOW = 4
_NEG_CUES = frozenset(
    {
        "no", "not", "never", "without", "none", "nor", "neither", "non", "cannot", "cant",
        "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "hasnt", "havent",
        "hadnt", "wont", "wouldnt", "couldnt", "shouldnt", "stopped", "absence", "absent",
        "pas", "sans", "aucun", "aucune", "jamais", "ni", "ne", "n", "arrete", "cesse",
    }
)  # fmt: skip
_NEG_TERMINATORS = frozenset(
    {
        "why", "if", "whether", "how", "when", "where", "since", "after", "because", "until",
        "before", "unless", "pourquoi", "si", "s'il", "s'ils", "comment", "quand", "depuis",
        "apres", "car", "parce", "avant", "que", "qu'il", "qu'elle", "lorsque", "puisque",
    }
)  # fmt: skip
_POST_NEG = re.compile(r" (?:pas|jamais)(?! mal)\b")
# Idioms built from negation words that mean "keeps on": they must not negate what follows.
_KEEPS_ON = re.compile(
    r"\b(?:sans (?:arret|cesse|interruption|relache|discontinuer)|without (?:stopping|a break)|"
    r"non stop|never stops?|(?:n'|ne )?(?:arrete|cesse) (?:pas|plus) de|ne fait que)\b"
)


def _is_cue(token: str) -> bool:
    return token in _NEG_CUES or token.endswith("n't") or token.startswith("n'")


def _negated(norm: str, start: int, end: int) -> bool:
    """A negation cue shortly before the match in the same clause, or a French 'pas' after."""
    window = norm[max(0, start - 120) : start]
    cut = 0
    for m in _CLAUSE_BREAK.finditer(window):
        cut = m.end()
    window = _KEEPS_ON.sub(" ", window[cut:])
    for token in reversed(_TOKEN.findall(window)[-_NEG_WINDOW:]):
        if token in _NEG_TERMINATORS:
            break
        if _is_cue(token):
            return True
    return _POST_NEG.match(norm, end) is not None


def _first_match(pattern: re.Pattern[str], norm: str) -> re.Match[str] | None:
    for m in pattern.finditer(norm):
        if not _negated(norm, m.start(), m.end()):
            return m
    return None


# --------------------------------------------------------------------------------------------
# Normalisation with a map back to the owner's characters.

_SPECIAL = {
    "\u2019": "'",
    "\u2018": "'",
    "\u02bc": "'",
    "\u00b4": "'",
    "`": "'",
    "-": " ",
    "\u2010": " ",
    "\u2011": " ",
    "\u2012": " ",
    "\u2013": " ",
    "\u2014": " ",
    "_": " ",
    "\u0153": "oe",
    "\u00e6": "ae",
    "\u00f8": "o",
    "\u0142": "l",
}
_FOLD_CACHE: dict[str, str] = {}


def _fold(char: str) -> str:
    cached = _FOLD_CACHE.get(char)
    if cached is not None:
        return cached
    if char in "\n\r\v\f\u2028\u2029\x85":
        out = "\n"
    elif char.isspace():
        out = " "
    else:
        folded = char.casefold()
        out = "".join(_SPECIAL.get(c, c) for c in folded)
        out = unicodedata.normalize("NFKD", out)
        out = "".join(c for c in out if not unicodedata.combining(c))
    if len(_FOLD_CACHE) < 4096:
        _FOLD_CACHE[char] = out
    return out


def normalise(text: str) -> tuple[str, list[int]]:
    """Fold `text` for matching; also return, per output character, its index in `text`."""
    out: list[str] = []
    index: list[int] = []
    for i, char in enumerate(text):
        for c in _fold(char):
            if c in " \n" and (not out or out[-1] in " \n"):
                if c == "\n" and out and out[-1] == " ":
                    out[-1] = "\n"
                continue
            out.append(c)
            index.append(i)
    return "".join(out), index


# --------------------------------------------------------------------------------------------
# Public API.


def _mask_name(text: str, name: str | None) -> str:
    """Blank out the pet's own name (case-sensitive, whole word), keeping offsets intact."""
    if not name or len(name.strip()) < 2:
        return text
    pattern = re.compile(rf"(?<!\w){re.escape(name.strip())}(?!\w)")
    return pattern.sub(lambda m: " " * len(m.group()), text)


def triage_text(
    species: Species,
    sex: Sex,
    text: str,
    onset: Onset | None = None,
    *,
    pet_name: str | None = None,
) -> TriageResult:
    """Red flags in the owner's `text` for an animal of this species and sex.

    `onset` is accepted for context and never lowers anything (see the module docstring).
    `pet_name`, when given, is masked out of the text before matching.
    """
    del onset  # no current rule depends on it
    original = _mask_name(text, pet_name)
    norm, index = normalise(original)
    found: dict[str, RedFlag] = {}
    superseded: set[str] = set()
    for compiled in _COMPILED:
        rule = compiled.rule
        if not rule.applies_to(species, sex):
            continue
        matches: list[re.Match[str]] = []
        for group in compiled.groups:
            m = _first_match(group, norm)
            if m is None:
                break
            matches.append(m)
        else:
            if compiled.unless is not None and _first_match(compiled.unless, norm):
                continue
            words = " + ".join(original[index[m.start()] : index[m.end() - 1] + 1] for m in matches)
            found[rule.code] = RedFlag(
                code=rule.code, level=rule.level_for(species), label=rule.label, matched=words
            )
            superseded.update(rule.supersedes)
    flags = [f for code, f in found.items() if code not in superseded]
    flags.sort(key=lambda f: f.level.rank)  # stable: table order within a level
    level = flags[0].level if flags else Urgency.STANDARD
    return TriageResult(level=level, flags=flags, rules_version=RULES_VERSION)


def triage(request: PreDiagnosisRequest) -> TriageResult:
    """Red flags in the request's symptoms and description, for its pet."""
    text = "\n".join([*request.symptoms, request.description])
    pet = request.pet
    return triage_text(pet.species, pet.sex, text, request.onset, pet_name=pet.name)
