"""Rule-based extraction of funding events (raises, debt, secondary sales, acquisitions) from article text.

Pure functions, no database: `parse_amount` reads one money expression, `extract_funding` splits a text
into sentences (English, French, German), finds amounts next to funding cues, attaches valuations,
resolves the company and returns one `FundingEvent` per distinct (company, amount, currency).

How an amount is read, in order:

- a conversion right after another amount ('¥50bn (about $330m)') is dropped;
- an amount next to a valuation phrase ('valued at', 'at a $20bn valuation', 'Bewertung von',
  'valorisée à') is a valuation and goes to the nearest event of its sentence, else to the previous
  sentence's event;
- an amount whose nearest cue is a funding word (raise, round, loan, acquire, lève, eingesammelt ...)
  rather than a word of revenue, fines, spending, public programmes or contracts is an event;
- the company is the subject before the verb (vendors first, as the finder reports them), the company
  bought for an acquisition, the company invested in for 'invested $1bn in X', or for 'it' and 'the
  company' the most salient company of the preceding sentences. No company, no event; a company the
  finder does not know must come from a text that is about AI.

All regular expressions are linear: numbers are tokenised once, and every other pattern is matched
anchored at a position or inside a bounded window around an amount.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache

from kb.core.language import guess_language
from kb.core.money import USD_PER_UNIT, to_usd
from kb.core.resources import bundled
from kb.core.text import sentence_spans
from kb.enrich.funding_company import CompanyScorer, Option, load_company_scorer
from kb.enrich.funding_company import options as company_options

RULES_VERSION = "6"
COMMON_WORDS = bundled("kb", "data", "common_words.txt")

VendorFinder = Callable[[str], list[str]]


@dataclass
class FundingEvent:
    """One amount-bearing raise, debt deal, secondary sale or acquisition of a company."""

    company: str | None
    amount: float
    currency: str
    kind: str
    round: str | None
    valuation: float | None
    sentence: str
    known: bool = True  # the company is a vendor of the gazetteer (else named as the text names it)


# --------------------------------------------------------------------------------------------- amounts


def _words(text: str) -> frozenset[str]:
    """A word list written as one string."""
    return frozenset(text.split())


_MIN_USD, _MAX_USD, _MAX_VALUATION_USD = 1e4, 1e12, 1e13

_NUMBER_RE = re.compile(r"(?<![\w.,])\d++(?:[.,\u00a0\u202f]\d++)*+")
_PREFIX_RE = re.compile(
    r"(?<![A-Za-z])(US\$|U\.S\.\$|CA\$|C\$|A\$|AU\$|HK\$|NT\$|NZ\$|S\$|R\$|\$|€|£|¥|₹|₩|Rs\.?|"
    r"CHF|EUR|USD|GBP|SEK|AED|JPY|CNY|RMB|INR|KRW|CAD)[\s\u00a0]?$"
)
_PREFIX_CURRENCY = {
    "US$": "USD", "U.S.$": "USD", "$": "USD", "CA$": "CAD", "C$": "CAD", "€": "EUR", "£": "GBP",
    "¥": "JPY", "₹": "INR", "₩": "KRW", "Rs": "INR", "Rs.": "INR", "RMB": "CNY", "HK$": "HKD",
    "NT$": "TWD", "S$": "SGD", "A$": "AUD", "AU$": "AUD",
}  # fmt: skip
_SCALE_RE = re.compile(
    r"[\s\u00a0\u202f-]?(thousand|[Mm]illions?|Millionen|billions?|Billionen|Billion|trillions?|"
    r"milliards?|Milliarden?|Mio\.?|Mrd\.?|Mds|Md|crores?|lakhs?|bn|mn|mln|tn|trn|k|K|m|M|b|B)"
    r"(?![^\W\d_])"
)
_SCALE_VALUE = {
    "thousand": 1e3, "k": 1e3, "million": 1e6, "millions": 1e6, "millionen": 1e6, "mio": 1e6,
    "mn": 1e6, "mln": 1e6, "m": 1e6, "billion": 1e9, "billions": 1e9, "bn": 1e9, "b": 1e9,
    "milliard": 1e9, "milliards": 1e9, "milliarde": 1e9, "milliarden": 1e9, "mrd": 1e9, "md": 1e9,
    "mds": 1e9, "trillion": 1e12, "trillions": 1e12, "tn": 1e12, "trn": 1e12, "billionen": 1e12,
    "crore": 1e7, "crores": 1e7, "lakh": 1e5, "lakhs": 1e5,
}  # fmt: skip
_SUFFIX_RE = re.compile(
    r"[\s\u00a0\u202f-]{0,3}(?:d['’]\s?|de\s)?(US-Dollar|US[ -]dollars?|U\.S\. dollars?|dollars? américains|"
    r"dollars? canadiens|Canadian dollars?|Swiss francs?|francs? suisses|Franken|pounds?(?: sterling)?|"
    r"livres? sterling|dollars?|Dollar|euros?|Euro|yens?|yuans?|renminbi|rupees?|roupies?|won|dirhams?|"
    r"kronor|krona|Swedish crowns|couronnes suédoises|EUR|USD|GBP|CHF|JPY|CNY|RMB|INR|KRW|AED|SEK|CAD|"
    r"Yuan|Yen|Pfund|Won|Renminbi|"
    r"€|\$|£)(?![^\W\d_])"
)
_SUFFIX_WORDS = (
    ("canad", "CAD"), ("franc", "CHF"), ("franken", "CHF"), ("pound", "GBP"), ("pfund", "GBP"),
    ("livre", "GBP"),
    ("dollar", "USD"), ("euro", "EUR"), ("yen", "JPY"), ("yuan", "CNY"), ("renminbi", "CNY"),
    ("rupee", "INR"), ("roupie", "INR"), ("won", "KRW"), ("dirham", "AED"), ("kron", "SEK"),
    ("crown", "SEK"), ("couronne", "SEK"), ("€", "EUR"), ("$", "USD"), ("£", "GBP"),
)  # fmt: skip


@dataclass(frozen=True)
class _Amount:
    value: float
    currency: str
    start: int
    end: int


def _usd(value: float, currency: str) -> float:
    return to_usd(value, currency)


def _parse_number(token: str, *, has_scale: bool, lang: str | None) -> float | None:
    """Read '1,800', '3,5', '1.05' or '1.000.000' as a float, guessing the separators' roles."""
    token = token.replace("\u00a0", "").replace("\u202f", "")
    if len(token) > 24:
        return None
    if "," in token and "." in token:
        decimal = "," if token.rfind(",") > token.rfind(".") else "."
        token = token.replace("." if decimal == "," else ",", "").replace(decimal, ".")
    elif "," in token or "." in token:
        sep = "," if "," in token else "."
        parts = token.split(sep)
        decimal_ok = len(parts) == 2 and (
            len(parts[1]) != 3 or (has_scale and (sep == "." or lang in ("fr", "de")))
        )
        if decimal_ok:
            token = f"{parts[0]}.{parts[1]}"
        elif all(len(p) == 3 for p in parts[1:]):
            token = "".join(parts)
        else:
            return None
    try:
        return float(token)
    except ValueError:
        return None


def _prefix_currency(text: str, start: int) -> tuple[str | None, int]:
    """Currency written before the number: ('USD', start) , ('', start) if unsupported, (None, ...)."""
    lo = max(0, start - 7)
    m = _PREFIX_RE.search(text, lo, start)
    if not m:
        return None, start
    return _PREFIX_CURRENCY.get(m.group(1), m.group(1) if m.group(1) in USD_PER_UNIT else ""), m.start()


def _suffix_currency(word: str) -> str:
    if word in USD_PER_UNIT:
        return "CNY" if word == "RMB" else word
    low = word.lower()
    for stem, code in _SUFFIX_WORDS:
        if stem in low:
            return code
    return ""


def _scale_value(word: str, lang: str | None) -> float:
    """Multiplier of a scale word; 'Billion' (German) and 'billion' (French) mean 10^12."""
    key = word.lower().rstrip(".")
    if key in ("billion", "billions"):
        long_scale = (lang == "de" and word[0].isupper()) or (lang == "fr" and word[0].islower())
        return 1e12 if long_scale else 1e9
    return _SCALE_VALUE[key]


def _amount_at(text: str, num: re.Match[str], lang: str | None) -> _Amount | None:
    """Build the amount around one number token, or None when it carries no (supported) currency."""
    prefix, start = _prefix_currency(text, num.start())
    end, scale, scale_word = num.end(), 1.0, ""
    sm = _SCALE_RE.match(text, end)
    if sm:
        scale_word = sm.group(1)
        scale, end = _scale_value(scale_word, lang), sm.end()
    suffix = ""
    xm = _SUFFIX_RE.match(text, end)
    if xm:
        suffix, end = _suffix_currency(xm.group(1)), xm.end()
    currency = prefix if prefix is not None else suffix
    if prefix is None and not xm and scale_word.lower().startswith(("crore", "lakh")):
        currency = "INR"
    if not currency:
        return None
    number = _parse_number(num.group(), has_scale=bool(scale_word), lang=lang)
    if number is None or number <= 0:
        return None
    value = number * scale
    if _usd(value, currency) > _MAX_VALUATION_USD:
        return None
    return _Amount(value, currency, start, end)


def _find_amounts(text: str, lang: str | None = None) -> list[_Amount]:
    """Every money expression in `text`, in order."""
    found = (_amount_at(text, m, lang) for m in _NUMBER_RE.finditer(text))
    return [a for a in found if a is not None]


def amount_spans(text: str, lang: str | None = None) -> list[tuple[float, str, int, int]]:
    """Every money expression in `text` as (value, currency, start, end), in order."""
    return [(a.value, a.currency, a.start, a.end) for a in _find_amounts(text or "", lang)]


def parse_amount(text: str) -> tuple[float, str] | None:
    """Parse the first money expression in `text`: '€3.5bn' -> (3_500_000_000.0, 'EUR')."""
    amounts = _find_amounts(text or "")
    return (amounts[0].value, amounts[0].currency) if amounts else None


# --------------------------------------------------------------------------------------------- cues

_I = re.IGNORECASE
_RAISE_RE = re.compile(
    r"\b(?:rais(?:e|es|ed|ing)|fund-?rais\w*|secur(?:e|es|ed|ing)|clos(?:e|es|ed|ing)(?!\s+to\b)|(?-i:land(?:s|ed|ing)?)|"
    r"bag(?:s|ged)|collect(?:s|ed)|pull(?:s|ed) in|took in|put(?:s|ting)? in|inject\w*|pour(?:s|ed)|"
    r"pump(?:s|ed)|"
    r"invest(?:s|ed|ing|ment|ments)?|"
    r"backed|funding|financing|round|placement|equity|new shares|shares|"
    r"stock(?!\s+(?:market|price|exchange))|stake|capital increase|"
    r"share issue|secondary|tender offer|share sale|cession|"
    r"l[eè]v(?:e|é|ée|ées|er|ant)|levée|tours? de\b|financement|"
    r"augmentation de capital|placement privé|investissement|fonds propres|réuni|recueilli|récolt[ée]\w*|"
    r"sammelt|eingesammelt|einsammeln|eingeworben|wirbt|Finanzierungsrunde|Finanzierung|Runde|erhält|"
    r"erhalten|erhielt|einnehmen|eingenommen|steuert|beigesteuert|investieren|investir|injecter|"
    r"c[èé]d(?:é|e|ent|er)|boucl[ée]\w*|"
    r"Kapitalerhöhung|Investition|investiert|Beteiligung|Eigenkapital|apport(?:e|er|é|ent)|"
    r"receiv(?:e|es|ed|ing)|en (?:discussions?|négociations?) pour|in (?:talks|negotiations) (?:for|over)|"
    r"putting|puts|"
    r"holt|holte|geholt|aufnehmen|aufgenommen|Risikokapital|obt(?:ient|enu|enir)|décroch\w*|"
    r"steck(?:t|en)|gesteckt|secondaire|neue Aktien|platzier\w*|"
    r"verhandel\w*|verhandl\w*)\b"
    r"|Series[ -][A-K]\b|s[ée]rie [A-K]\b|\bseed\b|Seed-Runde|\bamorçage\b",
    _I,
)
_IPO_RE = re.compile(
    r"\b(?:IPO|initial public offering|public offering|listing|flotation|go(?:es|ing)? public|"
    r"Börsengang|an die (?:\w+ )?Börse|introduction en Bourse|entrée en Bourse|cotation)\b", _I)
_DEBT_RE = re.compile(
    r"\b(?:debt (?:facility|financing|round|raise|deal)|venture debt|term loan|loans?|"
    r"credit (?:facility|line)|line of credit|revolving|convertible notes|notes|bonds?|project financing|"
    r"private credit|lenders|borrow(?:s|ed|ing)?|"
    r"prêts?|emprunts?|dette|Kredit\w*|Darlehen|Fremdkapital)\b",
    _I,
)
# a grant or subsidy next to the amount: public money to a named company ('a £12m grant to Lumai')
_GRANT_RE = re.compile(r"\b(?:grants?|award(?:s|ed|ing)?|hand(?:s|ed|ing)(?: over)?|subsid(?:y|ies)|"
                       r"subventions?|aides? publiques?|dons|vers(?:e|era|ent|é)|accord(?:e|é|era)|"
                       r"Zuschuss|Zuschüsse|Fördermittel|Förderung|Förderbeitrag|Fördergeld\w*)\b", _I)
_GRANT_NEAR = 30
_TO_RE = re.compile(r"\s*(?:\S+\s+){0,3}?(?:to|for|à|an|für)\s+", _I)  # '£12m grant to', 'de 15 M€ à'
_DEBT_WORD_RE = re.compile(r"\b(?:debt|borrowing|convertible|loans?|dette|emprunts?|obligations convertibles|"
                           r"Fremdkapital|Fremd-|Wandelanleihen|Kredite?)", _I)
_EQUITY_WORD_RE = re.compile(r"\b(?:equity|new shares|shares|fonds propres|actions nouvelles|Eigenkapital|"
                             r"Eigen-|neue Aktien)", _I)
_ACQ_RE = re.compile(
    r"\b(?:acquir(?:e|es|ed|ing)|acquisition|buy(?:s|ing)?|bought|purchas(?:e|es|ed|ing)|takeover|"
    r"take(?:s)? over|snap(?:s|ped|ping)? up|sell(?:s|ing)? itself|sold itself|rachat|rach[èe]t\w*|acquiert|"
    r"Übernahme|übernimmt|übernommen|übernehmen|kauft|gekauft|pay|paid|pays|paying|"
    r"(?:met|mettre|mis|mettra) la main sur|Kaufpreis|purchase price|prix (?:d['’]achat|de rachat)|"
    r"montant de (?:l['’]opération|la transaction))\b",
    _I,
)
_SECONDARY_RE = re.compile(
    r"\b(?:secondary|tender offer|employee share|(?:cession|vente|opération) secondaire|Sekundär\w*|"
    r"employees?\b[^.;]{0,60}\bsell)",
    _I,
)
_NEG_RE = re.compile(
    r"\b(?:revenues?|sales|turnover|profits?|loss(?:es)?|earnings|income|ARR|annuali[sz]ed|run-rate|"
    r"fine[ds]?|fining|penalt\w+|damages|settle\w*|lawsuit|compensation|forecast|guidance|outlook|"
    r"capex|capital expenditure|expenditure|spend\w*|budget|programme|program|mission|scheme|grants?|"
    r"subsid\w+|outlay|allocation|costs?|prices?|market size|saving|savings|save|EU-backed|state-backed|"
    r"government-backed|federal|public money|taxpayers?|sovereign|treasur\w+|joint fund|fund|contracts?|"
    r"agreements?|orders|bookings|backlog|buybacks?|repurchases?|dividends?|market value|market cap\w*|"
    r"chiffre d'affaires|amendes?|revenus?|bénéfices?|pertes?|subventions?|coûts?|dépenses|fonds commun|"
    r"capitalisation boursière|Gewinn\w*|Verlust\w*|Strafe\w*|Bußgeld\w*|Entlastung|Förder\w*|Börsenwert)\b"
    r"|Auftrag|Aufträge|Auftragsvolumen|commande|commandes|dot[ée]e?s?|enveloppe|plan d['’]investissement"
    r"|market for|Markt für|Marktvolumen|marché (?:de|des|du)|investissement (?:total|global)|"
    r"total investment|Gesamtinvestition\w*"
    r"|(?:umsatz|kosten)\b",
    _I,
)
_ROUND_IN_RE = re.compile(r"\s+(?:[\w-]+\s+){0,2}?(?:round|Series [A-K]|investment|financing|tour de table|"
                          r"Runde|Finanzierungsrunde)\s+(?:in|into|dans|bei)\s+", _I)
_PART_OF_RE = re.compile(r"\b(?:part of|partie d['’]|Teil)\s+(?:a|an|the|its|une?|des|eines|einer)?\s*"
                         r"(?:\w+\s+){0,2}?(?:de\s+|von\s+)?$", _I)
_VAL_RE = re.compile(
    r"\b(?:valuation|valu(?:es|ed|ing)\b(?:\s+\S+){0,14}?\s+(?:at|above|below)|(?:would|could|will|to|may|might)"
    r"\s+value(?:\s+\S+){0,4}?\s+(?:at|above|below)|price tag of|valoris\w*|Bewertung|bewertet)\b",
    _I,
)
_VAL_AFTER_RE = re.compile(
    r"[\s,]{0,3}(?:post-money |pre-money )?(?:valuation|price tag|Bewertung|valorisation)"
    r"|\s+(?:\w+\s+){0,2}?bewertet\b",  # 'mit 3,25 Mrd. US-Dollar bewertet'
    _I,
)
# 'a stake worth $130bn', 'shares valued at': what a holding is worth, not money raised
_HOLDING_WORTH_RE = re.compile(
    r"\b(?:(?:stake|holding|shareholding|shares|participation|Anteil)\b[^.;]{0,40}?\b"
    r"(?:worth|valued at|d'une valeur de|im Wert von)"
    r"|value of (?:\w+\s+){0,3}?(?:shares|stake|holding)\b[^.;]{0,40}?\b(?:is|was|of|at|closer to))"
    r"(?:\s+(?:about|around|roughly|some|nearly|almost|closer to|environ|rund|etwa))?\s*$",
    _I)
# 'a cash-and-stock deal valued at $4.9bn': in a sentence about buying a company, the price paid
_DEAL_VALUE_RE = re.compile(r"\b(?:deal|transaction|takeover|acquisition|purchase|offer|opération|rachat|"
                            r"Übernahme|Transaktion)\s+(?:\w+\s+){0,2}?(?:valued at|worth|valorisée? à|"
                            r"d'une valeur de|im Wert von|of about|of around|of roughly)\s*$", _I)
# '$3bn through $1bn of new shares and $2bn of convertible notes': the parts of a stated total
_PARTS_RE = re.compile(r"\b(?:through|via|comprising|consisting of|made up of|split into|split between|"
                       r"dont|sous forme de|davon|aufgeteilt in)\b", _I)
_BLOCK_RE = re.compile(
    r"\b(?:rais(?:e|es|ed|ing)|secur(?:es|ed)|clos(?:es|ed)|collect(?:s|ed)|l[eè]v(?:e|é)|sammel\w*|"
    r"eingesammelt|eingeworben|erhält|acquir\w+|bought)\b",
    _I,
)
_VAL_GUARD_RE = re.compile(r"\b(?:agreement|contracts?|backlog|orders|Vertrag|contrat)\b", _I)
_AT_RE = re.compile(r"\bat\s+(?:an?\s+)?(?:about\s+|around\s+|roughly\s+|nearly\s+|some\s+)?$", _I)
_CONVERSION_RE = re.compile(
    r"\s*[,(\[–-]?\s*(?:about|around|roughly|approximately|approx\.|some|nearly|almost|or|equivalent to|"
    r"soit|environ|près de|rund|etwa|ca\.|circa|umgerechnet)?\s*$",
    _I,
)
_CAPEX_RE = re.compile(r"\b(?:will|to|plans? to|pledged? to|would|wants? to)\s+(?:invest|spend)\b"
                       r"|\b(?:va|vont|promet d['’]|prévoit d['’]|compte|veut)\s*(?:investir|dépenser)\b"
                       r"|\binvestira\b|\b(?:will|wollen|plant)\b[^.]{0,60}\binvestieren\b", _I)
_INFRA_AFTER_RE = re.compile(
    r"\s*(?:\w+\s+){0,3}?(?:in|into|on|dans|en)\s+(?:\w+\s+){0,3}?[\w-]*?"
    r"(?:data[- ]?cent|infrastructure|capacity|facilit|plants?|factor|campus|clusters?|compute|chips|"
    r"hardware|servers|sites?|centres? de données|usines?|Rechenzentr|Standort|Werk)",
    _I,
)
_INVEST_VERB_RE = re.compile(r"invest(?:s|ed|ing|ir|ira|iront|it|iert|ieren)?$", _I)
# '$500bn of data-centre investment', 'de 2 milliards d'investissements dans ses centres de données'
_INFRA_OF_RE = re.compile(r"\s*(?:of|d['’]|de)\s*(?:\w+[\s-]+){0,2}?(?:data[- ]?cent\w*|infrastructure|"
                          r"compute|capacity|capex|spending|investments?)\b", _I)
_INTO_RE = re.compile(r"\s*(?:\([^()]{0,40}\)\s*)?(?:in|into|dans)\s+", _I)  # 'invested $1bn (€0.9bn) in'
# 'is acquiring a controlling stake in Lanying Robotics ... for 1.2bn yuan', 'a pris une participation
# dans Stellia, au sein d'un tour de 18 millions': the company named before the amount
_STAKE_BEFORE_RE = re.compile(
    r"\b(?:stake|holding|shareholding|participation|Beteiligung|Anteile?)\s+(?:in|dans|an|bei)\s+"
    r"(?:(?:the|der|die|das|dem|den)\s+)?", _I)
_STAKE_IN_RE = re.compile(
    r"\s*(?:of\s+)?(?:new\s+)?(?:investment|equity|capital)\s+(?:in|into)\s+"
    r"|\s*for\s+(?:an?\s+)?(?:\S+\s+){0,2}?(?:stake|holding|shareholding)\s+in\s+",
    _I,
)
_INVESTOR_CUE_RE = re.compile(r"invest|pour|pump|inject|put|back|steck|gesteckt", _I)
_ROUND_RE = re.compile(
    r"\b(?:Series|Serie|série|serie)[ -]([A-K])(?![a-z])"
    r"|\b(pre-seed|seed|Seed(?=[- ]?(?:Runde|round|Round)))\b"
    r"|\btour d['’](amorçage)"
)
_AI_RE = re.compile(
    r"\bAI\b|\bKI\b|\bIA\b|artificial[- ]intelligence|intelligence artificielle|künstliche\w* Intelligenz|"
    r"machine[- ]learning|deep[- ]learning|\bML\b|MLOps|\bLLMs?\b|language models?|modèles? de langage|"
    r"Sprachmodell|\bGPUs?\b|"
    r"accelerators?|inference|chatbots?|neural|generative|générative|generativ|foundation models?|"
    r"frontier models?|data[- ]cent(?:re|er)s?|centres? de données|Rechenzentr|[Rr]obot|semiconductor|"
    r"\bchips?\b|open[- ]weight|\bcompute\b|frontier labs?|research labs?|"
    r"model (?:builders?|makers?|developers?|safety)|"
    r"\bTPUs?\b|tensor processing|training runs?|\bmodèles?\b|\bModell|"
    r"\b(?:image|video|speech|audio|voice|open|reasoning|coding|AI|large) models?\b|model repositor|"
    r"speech[- ]recognition|transcription|reconnaissance vocale|Spracherkennung|computer[- ]vision|"
    r"vision (?:industrielle|par ordinateur)|Bildverarbeitung|"
    r"optical[- ]computing|[Ss]elf-driving|"
    r"[Aa]utonomous (?:driving|trucking|trucks?|agents?|vehicles?|systems?)|"
    r"apprentissage (?:automatique|profond)|maschinelle[sn]? Lernen|neuronale|"
    r"agents (?:IA|autonomes)|AI agents?|KI-Agenten|robotaxi|humanoid|drones?|[Dd]rohnen\w*|"
    r"machine translation|enterprise[- ]search|\bpuces?\b|\bChips?\b|Chip(?:entwickl|herstell|design)"
)
_LEFT, _RIGHT = 160, 100
_DIGIT_RE = re.compile(r"\d")
# a fast substring screen: every cue of _RAISE_RE, _DEBT_RE, _ACQ_RE and _VAL_RE contains one of these
_CUE_STEMS = _words(
    """rais fund secur clos land bag collect pull took put inject invest back financ finanz round placement
    equity share stock stake capital kapital secondary tender lev lèv tour augmentation fonds sammel
    eingeworben wirbt runde erhält beteiligung series serie série seed amorçage debt loan credit revolving
    notes bond lender prêt emprunt dette kredit darlehen acqui buy bought purchas take rachat rachè rachet
    borrow cession snap itself récolt cédé cède cèdent céder bouclé boucle grant subsid subvention zuschuss
    förder réuni recueilli erhalten erhielt eigenkapital apport receiv award dons pay paid pays paying
    discussion négociation talks negotiations verhand hand vers accord put holt geholt aufnehm steck
    secondaire aktien platzier
    aufgenommen risikokapital obtien obtenu obtenir décroch main kaufpreis purchase prix montant
    einnehm eingenommen steuert beigesteuert ipo listing offering flotation public börse bourse cotation
    übernahme übernimmt übernommen übernehmen kauf valu price valoris bewert"""
)
_LETTER_RE = re.compile(r"[^\W\d_]{3}")


# the funding cue nearest an amount: (distance in characters, match, 'raise' | 'debt' | 'acquisition')
_Cue = tuple[int, re.Match[str] | None, str]


def _last_match(regex: re.Pattern[str], text: str, lo: int, hi: int) -> re.Match[str] | None:
    last = None
    for last in regex.finditer(text, lo, hi):  # noqa: B007 - keep the final match
        pass
    return last


def _nearest(
    regex: re.Pattern[str], sent: str, a: _Amount, lo: int, hi: int
) -> tuple[int, re.Match[str] | None]:
    """Distance in characters to the closest match of `regex` on either side of the amount."""
    left = _last_match(regex, sent, lo, a.start)
    right = regex.search(sent, a.end, hi)
    dl = a.start - left.end() if left else 10**9
    dr = right.start() - a.end if right else 10**9
    return (dl, left) if dl <= dr else (dr, right)


def _cue(sent: str, a: _Amount, lo: int, hi: int) -> _Cue:
    """The funding cue closest to the amount: (distance, match, 'raise' | 'debt' | 'acquisition'), or
    a grant word right beside it ('grant')."""
    dist, grant = _nearest(_GRANT_RE, sent, a, max(lo, a.start - _GRANT_NEAR), min(hi, a.end + _GRANT_NEAR))
    if grant is not None:
        return dist, grant, "grant"
    best: tuple[int, re.Match[str] | None, str] = (10**9, None, "")
    cues = ((_RAISE_RE, "raise"), (_DEBT_RE, "debt"), (_ACQ_RE, "acquisition"), (_IPO_RE, "ipo"))
    for regex, label in cues:
        dist, m = _nearest(regex, sent, a, lo, hi)
        if m is not None and dist < best[0]:
            best = (dist, m, label)
    return best


def _role(
    sent: str, a: _Amount, bounds: tuple[int, int], cue: _Cue, before: _Amount | None, prev_event: bool
) -> str:
    """'valuation', 'event', or 'none' for one amount of a sentence.

    `cue` is the nearest funding cue (see `_cue`), `before` the amount just before this one in the sentence,
    `prev_event` whether that one is an event.
    """
    lo, hi = bounds
    if _VAL_AFTER_RE.match(sent, a.end):
        return "valuation"
    if _HOLDING_WORTH_RE.search(sent, max(lo, a.start - 90), a.start):
        return "none"
    if _PART_OF_RE.search(sent, max(0, a.start - 40), a.start):
        return "none"  # 'The award is part of a $400M pot', 'fait partie d'une enveloppe de 50 M€'
    trigger = _last_match(_VAL_RE, sent, max(lo, a.start - 60), a.start)
    after_before = _VAL_AFTER_RE.match(sent, before.end) if before else None
    if trigger and before and (not sent[before.end : trigger.start()].strip()
                               or (after_before is not None and after_before.end() >= trigger.end())):
        trigger = None  # '$6.8bn price tag of its $500m round', '$300bn valuation attached to the $40bn
        # round': the trigger belongs to the amount before
    if trigger and not _BLOCK_RE.search(sent, trigger.end(), a.start):
        return "none" if _VAL_GUARD_RE.search(sent, lo, a.start) else "valuation"
    if prev_event and _AT_RE.search(sent, lo, a.start):
        return "valuation"
    dist, match, label = cue
    if match is None or dist > (_LEFT if match.start() < a.start else _RIGHT):
        return "none"
    if label == "grant":
        return "event"
    neg, _ = _nearest(_NEG_RE, sent, a, lo, hi)
    return "event" if dist < neg else "none"


_SHARES_OF_RE = re.compile(r"\s+of\s+(?:(?:the|its)\s+)?([A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*){0,3})\s+"
                           r"(?:(?:common|ordinary|preferred|new)\s+)?(?:stock|shares)\b")


def _shares_of(sent: str, a: _Amount) -> re.Match[str] | None:
    """'agreed to buy $2bn of Intel common stock': shares of a named company, bought from it."""
    return _SHARES_OF_RE.match(sent, a.end, min(len(sent), a.end + 80))


def _kind(sent: str, a: _Amount, lo: int, hi: int, cue_label: str) -> str:
    """equity | debt | mixed | valuation-only | acquisition, from the words around the amount."""
    if cue_label == "acquisition" and (_STAKE_IN_RE.match(sent, a.end, min(len(sent), a.end + 60))
                                       or _shares_of(sent, a)):
        return "equity"  # 'paid $1.2bn for a 20% stake in Corvid Labs', 'buy $2bn of Intel stock
    if cue_label in ("acquisition", "grant", "ipo"):
        return cue_label
    if _SECONDARY_RE.search(sent, lo, hi):
        return "valuation-only"
    for part in (sent[a.end : min(len(sent), a.end + 100)], sent[max(lo, a.start - 60) : a.start]):
        if _DEBT_WORD_RE.search(part) and _EQUITY_WORD_RE.search(part):
            return "mixed"
    near_debt = _DEBT_RE.search(sent, a.end, min(hi, a.end + 50)) or _DEBT_RE.search(
        sent, max(lo, a.start - 40), a.start
    )
    if near_debt or re.match(r"\s*(?:in|of)\s+(?:new\s+)?debt\b", sent[a.end : a.end + 20], _I):
        return "debt"
    return "equity"


def _round(sent: str, a: _Amount, lo: int, hi: int) -> str | None:
    """The round named next to the amount: 'Series B', 'seed' or 'pre-seed'."""
    _, m = _nearest(_ROUND_RE, sent, a, max(lo, a.start - 80), min(hi, a.end + 60))
    if m is None:
        return None
    if m.group(1):
        return f"Series {m.group(1).upper()}"
    return "pre-seed" if (m.group(2) or "").lower() == "pre-seed" else "seed"


def _is_capex(sent: str, a: _Amount, cue: re.Match[str]) -> bool:
    """'will invest €10bn in data centres': a company spending on its own infrastructure."""
    if re.match(r"invest|spend|pledg", cue.group(), _I) and _INFRA_OF_RE.match(sent, a.end):
        return True
    if not _INVEST_VERB_RE.match(cue.group()):
        return False
    future = _CAPEX_RE.search(sent, max(0, cue.start() - 25), cue.end())
    return bool(future or _INFRA_AFTER_RE.match(sent, a.end))


# the subject's own investing verb, not a passive ('backed by'): 'ASML led', 'Nvidia will put in'
_INVESTS_RE = re.compile(
    r"\b(?:led|leads|co-led|invest(?:s|ed)?|put(?:s|ting)? in|pour(?:s|ed)?|inject(?:s|ed)?|"
    r"(?:a |ont )?men[ée]e?|investit|injecte|apporte|beteiligt|investiert|steuert|steck(?:t|en)|führt\w*)\b"
    r"(?!\s+(?:by|par|von))",
    _I)
_TARGET_RE = re.compile(r"\b(?:in|into|dans|an|bei)\s+", _I)
_COMPANY_DESCRIPTION_RE = re.compile(
    r"(?:the|a|an|its|l['’]|le|la|das|den|dem|die|ein|einen)\s*(?:[\w.-]+\s+){0,4}?"
    r"(?:developer|start-?up|company|firm|lab|maker|designer|spin-?out|spin-?off|provider|operator|"
    r"group|jeune pousse|entreprise|société|éditeur|fabricant|concepteur|spécialiste|développeur|pépite|"
    r"Unternehmen|Start-up|Entwickler|Hersteller|Anbieter|Spezialist|Softwarehaus|Firma)s?\b", _I)


def _into_vendor(art: _Article, sent: str, a: _Amount) -> bool:
    """'will invest up to $5bn in Anthropic': a pledge to a company (one the gazetteer knows, or a
    name that is no place or public body in a text about AI) is a strategic investment, not
    spending on one's own infrastructure."""
    m = _INTO_RE.match(sent, a.end, min(len(sent), a.end + 60))
    if m is None:
        return False
    head = " ".join(sent[m.end():].split()[:4])  # the vendor's name, as written (an alias too)
    if _COMPANY_DESCRIPTION_RE.match(sent, m.end()):
        return art.ai  # 'in the Claude developer', 'in the Stockholm warehouse-bot maker'
    if not head[:1].isupper():
        return False
    if art.vendors_in(head):
        return True
    first = re.sub(r"\W+$", "", head.split()[0]).lower()  # a company the gazetteer does not know yet
    if re.search(r"rechenzentr|data-?cent|infrastru|standort|fabrik|werk$|campus|usine", first):
        return False  # German nouns are capitalised: 'in KI-Rechenzentren in Hessen investieren'
    return first not in _PLACES and first not in _PUBLIC_WORDS and first not in _STOP and art.ai


def _drop_conversions(sent: str, amounts: list[_Amount]) -> list[_Amount]:
    """Drop '(about $330 million)' after '¥50 billion': the same money in another currency."""
    kept: list[_Amount] = []
    for a in amounts:
        if kept and a.start - kept[-1].end <= 25 and _CONVERSION_RE.match(sent, kept[-1].end, a.start):
            continue
        kept.append(a)
    return kept


# --------------------------------------------------------------------------------------------- companies

# up to six capitalised words ('Black Forest Labs', 'Weights & Biases'), or a camel name ('xAI')
_CAP_RE = re.compile(
    r"(?<![\w\-])(?:[A-ZÀ-ÖØ-Þ]|[a-z](?=[A-Z]))(?:[\w&]|:(?=[a-z])|\.(?=(?:ai|io)\b))*+"
    r"(?:[ \u00a0](?:&[ \u00a0])?[A-ZÀ-ÖØ-Þ0-9][\w&]*+){0,5}"
)
_WORD_RE = re.compile(r"\w+")
# names written in lower case: with a digit or a domain ('n8n', 'kiln.ai'), or right after a word for a
# company ('the hardware start-up io', 'das Kölner Start-up heyqa') or before one in an apposition
# ('io, the hardware start-up')
_LOWER_NAME = r"[a-z][\w.]*[a-z0-9](?<!ed)(?<!ing)"
_ODD_NAME_RE = re.compile(r"(?<![\w.@/-])(?:[a-z]+\d[a-z\d]*|[a-z][\w-]*\.(?:ai|io|so|dev|com))(?![\w@/-])")
_COMPANY_NOUN = r"(?:start-?ups?|Start-?ups?|company|firm|Unternehmen|Firma|société|jeune pousse|spin-?off)"
_AFTER_NOUN_RE = re.compile(rf"\b{_COMPANY_NOUN}\s+({_LOWER_NAME})(?![\w-])")
_BEFORE_NOUN_RE = re.compile(rf"(?<![\w-])({_LOWER_NAME}),\s+(?:the|a|an|la|le|une|un|das|ein)\s+"
                             rf"(?:[\w-]+\s+){{0,3}}[\w-]*?{_COMPANY_NOUN}\b")
_RELATIVE_RE = re.compile(r"(?:['’]s)?,\s+(?:which|who|whose|qui|dont|das|die|der)\b")
_APPOSITION_RE = re.compile(
    r",\s+(?:a|an|the|which|who|whose|known|founded|co-founded|backed|based|once|now|formerly|itself|la|le|"
    r"l['’]|une|un|co-?fondée?|fondée?|basée?|créée?|spécialisée?|issue?|gegründet|mitgegründet|"
    r"der|die|das|ein|eine)\b[^,]{0,200},",
    _I,
)
_STOP = _words("bourse börse") | _words(
    """the a an in on at by for with and but its it this that these those after before since when while last
    next earlier meanwhile according however still yet also as once then there here we our they their he she
    his her what which who how where why if so not no all some many most several both each every other such
    one two three first second third new analysts investors officials critics people sources shares under
    staff employees workers shareholders lawmakers regulators executives bankers
    la le les l un une des du de d selon depuis pour dans en au aux cette ce son sa ses elle il ils nous leur
    reste comparée der die das den dem ein eine einer eines einem im am nach noch erst zum zur bei mit von
    für auch seit laut wie es er sie sein seine ihr ihre zu vor über um unter doch aber und oder wenn als
    dass diese dieser dieses jetzt nun damit mr mrs ms dr january february march april may june july august
    september october november december jan feb mar apr jun jul aug sep sept oct nov dec
    janvier février mars avril mai juin juillet août septembre octobre
    novembre décembre januar februar märz juni juli oktober dezember monday tuesday wednesday thursday
    friday saturday sunday lundi mardi mercredi jeudi vendredi montag dienstag mittwoch donnerstag freitag
    series serie série seed derweil zudem außerdem inzwischen mittlerweile bereits dabei daher deshalb
    allerdings jedoch zuletzt zuvor hingegen ebenfalls après ensuite enfin également toutefois"""
)
_PERIOD_RE = re.compile(r"^(?:Q[1-4]|H[12]|FY\d{2,4}|[12]H)$")  # 'in Q1', 'FY25': periods, not names
_ACRONYMS = _words("AI KI IA US USA UK EU CEO CFO CTO GPU GPUs API LLM LLMs IPO AGI UAE")
_PLACES = _words(
    """europe european america american asia asian africa china chinese japan japanese india indian france
    french germany german britain british canada canadian korea korean saudi dubai israel italy italian spain
    spanish sweden swedish switzerland swiss netherlands dutch london paris berlin munich tokyo beijing
    shanghai seoul toronto washington brussels amsterdam bengaluru singapore taiwan texas california gulf
    nordic nasdaq"""
) | frozenset(
    ["south korea", "saudi arabia", "abu dhabi", "san francisco", "new york", "silicon valley", "hong kong",
     "wall street", "united states", "united kingdom"]
)  # fmt: skip
_PUBLIC_WORDS = _words(
    """commission government ministry ministère ministerium treasury parliament council authority agency
    department mission programme program initiative facility fund bank union office institute university
    cabinet bureau state states kingdom republic regierung kommission bundesregierung gouvernement état
    court tribunal regulator committee senate congress"""
)
_INVESTOR_WORDS = _words("capital ventures venture partners investments management asset funds vc")
_NAME_SUFFIXES = frozenset(["ai", "labs", "lab", "technologies", "robotics", "intelligence", "systems"])
_NOT_NAME_WORDS = frozenset(["series", "serie", "série", "seed"])
_UNIT_WORDS = _words("cloud research robotics health mobility semiconductor semiconductors")
_CORPORATE = _words("group inc corp corporation co ltd limited ag se sa sas gmbh plc holdings holding")
_ROLE_NOUNS = _words(
    """company companies start-up startup start-ups firm firms developer developers lab labs group unit maker
    makers provider providers operator operators fund investor investors bank banks government authority
    ministry chipmaker rival rivals peer peers model models subsidiary division consortium researchers
    engineers executives executive employees staff users customers officials regulators market markets
    office offices team teams assistant chatbot chatbots chief spokesperson spokesman spokeswoman board
    deal affiliate affiliates parent backers shareholders family"""
)
_PREPS = _words(
    """by from including include includes joined alongside among with of for to at in on into against than
    via per over between von durch mit bei aus für über gegen par d du des auprès avec à chez dont sur vers
    dans
    im am vom zum zur beim ins nach seit laut"""
)
_DETERMINERS = _words("the its their his her our le la les l der die das den dem des")
_POSSESSIVES = _DETERMINERS | _words("my your nos notre vos votre leurs leur ses son sa mes unsere unser "
                                     "ihre")
_STAFF_WORDS = _words(
    "staff employees workers shareholders engineers researchers salariés employés actionnaires mitarbeiter "
    "mitarbeitende beschäftigten"
)
_ARTICLES = _words("der die das den dem des ein eine einer einem seiner seinem ihrer la le les l un une")
# 'Including the new money, Mistral has now raised ...': a name before its raising verb receives
_RAISES_NEXT_RE = re.compile(
    r"(?:['’]s)?\s+(?:has\s+|have\s+|had\s+|a\s+|hat\s+)?(?:now\s+|already\s+|just\s+)?"
    r"(?:raised|closed|secured|landed|levé|lève|bouclé|eingesammelt|sammelt)\b", _I)
# 'the $40bn round that SoftBank agreed to lead': a name before its leading verb invests
_LEADS_NEXT_RE = re.compile(r"\s+(?:has |had |have |will |would |agreed to |is to |plans to |is set to )"
                            r"(?:lead|led|co-lead|back|anchor)\b", _I)
_INVESTOR_PRE = _words("by including participation backers investors joined alongside from")
_INVESTOR_VERBS = _words(
    "backed backs invested invests led leads joined participated put took injected contributed committed "
    "poured beteiligt investiert investit injecte mène entre"
)


@dataclass
class _Cand:
    start: int
    end: int
    name: str
    vendor: bool
    prep: str = ""
    investor: bool = False
    modifier: bool = False
    aside: bool = False
    possessive: bool = False

    @property
    def head(self) -> bool:
        """Could be a clause's subject: not after a preposition, not a possessive ('Nvidia's stake')."""
        return not (self.prep or self.possessive)

    @property
    def subject_ok(self) -> bool:
        """Could receive the money as the subject: not an investor, a modifier or inside an aside."""
        return not (self.prep or self.investor or self.modifier or self.aside)


def _prev_tokens(sent: str, start: int, n: int) -> list[str]:
    """The last ``n`` words before ``start`` within its clause (a colon or semicolon ends one)."""
    lo = max(0, start - 60)
    cut = max(sent.rfind(":", lo, start), sent.rfind(";", lo, start))
    return [w.lower() for w in _WORD_RE.findall(sent, max(lo, cut + 1), start)[-n:]]


def _next_tokens(sent: str, end: int) -> list[str]:
    tail = sent[end : end + 50]
    if tail[:2] in ("'s", "’s"):
        tail = tail[2:]
    return [w.lower() for w in re.findall(r"[\w-]+", tail)[:2]]


# a name, a few lower-case words and a word for a company before another name: the first one
# only describes the second ('Bristol chip start-up Photonwise', 'Cursor maker Anysphere')
_DESCRIBED_NEXT_RE = re.compile(r"\s+(?:[a-z][\w-]*\s+){0,3}(?:start-?ups?|company|firm|maker|developer|"
                                r"designer|group|spin-?(?:out|off)|lab|provider|operator)\s+")
# French and German words that open a sentence before a name ('À Toulouse, ...', 'Im Ticker: ...')
_LEADING_WORDS = _words("à au aux en dans chez im in bei laut nach")
# a wire dateline in capitals ('SHENZHEN, June 6 -', 'NEW DELHI (wire) -'), or a place or a column's
# name before a colon ('Strasbourg : la medtech ...', 'Rumour mill: ...'): no company
_DATELINE_RE = re.compile(r"[A-ZÀ-Þ][A-ZÀ-Þ .'’-]+(?:,\s*[A-Z][a-z]{2,8}\.?\s+\d{1,2})?\s*"
                          r"(?:\([^()]{0,30}\)\s*)?[-–—]\s")
_LABEL_RE = re.compile(r"\s*(?:[\w&-]+\s+){0,3}?[\w&-]*\s?:(?!\d)")


def _trim_span(sent: str, m: re.Match[str]) -> tuple[int, int, str] | None:
    """Drop leading stopwords, years and trailing round words from a capitalised run: (start, end, name)."""
    words = [(w.start(), w.end(), w.group()) for w in re.finditer(r"\S+", m.group())]
    while words and (words[0][2].lower() in _STOP | _LEADING_WORDS or words[0][2].isdigit()
                     or words[0][2] in _ACRONYMS):
        words = words[1:]
    for i, (_, _, w) in enumerate(words):
        if w.lower() in ("series", "serie", "série", "seed") or w.isdigit():
            words = words[:i]
            break
    if not words:
        return None
    end = m.start() + words[-1][1]
    while len(words) > 1 and (words[-1][2].lower().rstrip(".") in _CORPORATE or words[-1][2] == "&"):
        words.pop()
    name = " ".join(w for _, _, w in words)
    if len(name) < 2 or name in _ACRONYMS or name.lower() in _STOP or _PERIOD_RE.match(name):
        return None
    return m.start() + words[0][0], end, name


def _is_written_unit(written: str, canonical: str) -> bool:
    """'Naver Cloud' written where the vendor is 'Naver': a business unit, not an alias of the vendor."""
    head = canonical.split()[0]
    words = written.split()
    if head not in words:
        return False
    extra = words[words.index(head) + 1 :]
    canon = {w.lower() for w in canonical.split()}
    return bool(extra) and extra[0].lower() not in canon and extra[0].lower() in _UNIT_WORDS


_DE_DESCRIPTORS = _words(
    "unternehmen up startup firma anbieter entwickler hersteller bauer konzern spezialist plattform labor "
    "ausrüster zulieferer betreiber riese gruppe"
)
# finite verbs and modals around a subject: 'Helsing hat', '2025 hatte ElevenLabs', 'will ASML'
_DE_VERBS = _words("hat hatte sammelt sammelte erhält erhielt holt holte bekommt wird ist war will soll kann "
                   "könnte")
# verbs that follow their subject ('Helsing plant'), but may come before an object ('führt Gespräche')
_DE_SUBJECT_VERBS = _words("plant steht baut meldet verhandelt führt strebt")


def _german_name(name: str, prev: list[str], nxt: list[str], sentence_initial: bool, recurring: bool) -> bool:
    """German capitalises every noun: accept a name after a descriptor ('das Start-up Helsing'), or
    around a finite verb ('2025 hatte ElevenLabs', 'Helsing hat'); a sentence's first word also needs
    to look like a name (ElevenLabs, G42) or to recur in the text, unlike 'Angeführt wird ...'."""
    if prev and _is_german_descriptor(prev[-1]):
        return True  # 'das Start-up Helsing', 'der Chipentwickler Sirius Silicon'
    if prev and prev[-1] == "an" and set(prev[:-1]) & _INVESTOR_VERBS:
        return True  # 'Nvidia beteiligt sich an Parloa'
    verb = bool(nxt and nxt[0] in _DE_VERBS | _DE_SUBJECT_VERBS) or bool(prev and prev[-1] in _DE_VERBS)
    if sentence_initial:  # 'Helsing ist in Gesprächen', not 'Angeführt wird ...'
        return _looks_like_name(name) or recurring or bool(nxt and nxt[0] in _DE_VERBS | _DE_SUBJECT_VERBS)
    return verb


def _german_descriptor_cut(span: tuple[int, int, str]) -> tuple[int, int, str]:
    """'Münchner Drohnenhersteller Quantum Systems' -> 'Quantum Systems': the name follows the last
    descriptor."""
    start, end, name = span
    words = name.split(" ")
    cut = max((i for i, w in enumerate(words[:-1]) if _is_german_descriptor(w.lower())), default=-1)
    if cut < 0:
        return span
    return start + len(" ".join(words[: cut + 1])) + 1, end, " ".join(words[cut + 1 :])


def _is_german_descriptor(word: str) -> bool:
    """'Unternehmen', 'Drohnenhersteller', 'KI-Entwicklers': a description, not a name."""
    for form in {word, word.removesuffix("s"), word.removesuffix("n"), word.removesuffix("en")}:
        if form in _DE_DESCRIPTORS or any(form.endswith(d) for d in _DE_DESCRIPTORS if len(d) > 3):
            return True
    return False


@cache
def common_words() -> frozenset[str]:
    """Words our labelled texts write in lower case, and the function words of English, French and
    German (``kb/data/common_words.txt``, written by ``python -m kb.evaluation.training --common-words``)."""
    if not COMMON_WORDS.is_file():
        return frozenset()
    return frozenset(COMMON_WORDS.read_text(encoding="utf-8").split())


def _looks_like_name(name: str) -> bool:
    """CamelCase, digits or an AI suffix: 'ElevenLabs', 'G42', 'Sakana AI'."""
    return bool(re.search(r"[a-z][A-Z]|\d|\bAI$", name)) or " " in name


@dataclass
class _Article:
    """State shared by the sentences of one text: language, vendor finder, drafts found so far."""

    text: str
    lang: str
    vendors: VendorFinder | None
    title: str = ""
    sentences: list[tuple[int, int]] = field(default_factory=list)
    drafts: list[_Draft] = field(default_factory=list)
    _lower_words: set[str] | None = None
    _vendor_cache: dict[str, list[str]] = field(default_factory=dict)
    _mentions: dict[int, list[_Cand]] = field(default_factory=dict)
    _ai: bool | None = None
    _known: tuple[str, ...] | None = None
    _capitalised: dict[str, int] | None = None
    _named: dict[str, int] = field(default_factory=dict)
    _contexts: dict[tuple[int, str], tuple[str, bool] | None] = field(default_factory=dict)
    scorer: CompanyScorer | None = None  # the learned choice of company; None: the rules alone
    trace: list[tuple[str, _Amount, list[Option]]] | None = None  # candidates seen, for training

    @property
    def known(self) -> tuple[str, ...]:
        """Vendors named anywhere in the text, or without a finder its multi-word names (on demand)."""
        if self._known is None:
            self._known = tuple(self.vendors_in(self.text)) if self.vendors else _article_names(self.text)
        return self._known

    @property
    def ai(self) -> bool:
        """Whether the text is about AI, not one that mentions it once in passing (computed on demand)."""
        if self._ai is None:
            # two AI terms, or one in a short text (a brief or a paragraph)
            self._ai = _count_ai_terms(self.text) >= (1 if len(self.text.split()) < 150 else 2)
        return self._ai

    def capitalised_count(self, word: str) -> int:
        """How often `word` occurs capitalised in the text."""
        if self._capitalised is None:
            self._capitalised = {}
            for w in re.findall(r"\b[A-ZÄÖÜ]\w+", self.text):
                self._capitalised[w] = self._capitalised.get(w, 0) + 1
        return self._capitalised.get(word, 0)

    def common_word(self, name: str) -> bool:
        """A single word the text also writes in lower case, or a common word of the languages
        ('Early this month ...', 'Reportedly, ...'), or an adverb: no name when it opens a sentence."""
        low = name.lower()
        if _ODD_NAME_RE.fullmatch(name):  # 'n8n sorgt ...': a name the text always writes in lower case
            return False
        return " " not in name and (low in self.lower_words() or low in common_words() or low.endswith("ly"))

    def lower_words(self) -> set[str]:
        """Words the text also writes in lower case (so 'Revenue' opening a sentence is no name)."""
        if self._lower_words is None:
            self._lower_words = set(re.findall(r"\b[a-zà-ÿ][\w-]*", self.text))
        return self._lower_words

    def vendors_in(self, text: str) -> list[str]:
        """The vendor finder's answer for `text` (cached; empty without a finder)."""
        if self.vendors is None:
            return []
        if text not in self._vendor_cache:
            self._vendor_cache[text] = list(self.vendors(text) or [])
        return self._vendor_cache[text]

    def resolve(self, name: str) -> tuple[str, bool]:
        """Canonical vendor name for a written name when one is known, else the written name."""
        found = self.vendors_in(name)
        if found:
            return (name, True) if _is_written_unit(name, found[0]) else (found[0], True)
        words, vendor = name.split(), self.vendors is not None
        for k in self.known:
            kw = k.split()
            short = words == kw[: len(words)]
            if short and (vendor or {w.lower() for w in kw[len(words) :]} <= _NAME_SUFFIXES):
                return k, vendor
            if kw == words[: len(kw)]:
                return (name, vendor) if _is_written_unit(name, k) else (k, vendor)
        return name, False

    def _flags(self, sent: str, c: _Cand, sentence_initial: bool) -> _Cand:
        prev = _prev_tokens(sent, c.start, 4)
        nxt = _next_tokens(sent, c.end)
        before = prev[:-1] if prev and prev[-1] in _DETERMINERS else prev  # 'of the Kimi family'
        c.prep = before[-1] if before and before[-1] in _PREPS else ""
        if c.prep in ("at", "of", "d", "de", "von", "bei") and len(prev) > 1 and prev[-2] in _STAFF_WORDS:
            c.prep = ""  # 'employees of OpenAI' names the company itself
        c.possessive = sent[c.end : c.end + 2] in ("'s", "’s")
        c.investor = (
            (bool(set(prev) & _INVESTOR_PRE) and not _RAISES_NEXT_RE.match(sent, c.end))
            or bool(_LEADS_NEXT_RE.match(sent, c.end))
            or bool(nxt and nxt[0] in _INVESTOR_VERBS)
            or (len(nxt) > 1 and nxt[0] in ("has", "have", "had") and nxt[1] in _INVESTOR_VERBS)
        )
        c.modifier = sent[c.end : c.end + 1] == "-" or bool(nxt and nxt[0] in _ROLE_NOUNS - _STAFF_WORDS)
        c.modifier |= bool(set(nxt[:2]) & _PUBLIC_WORDS)  # 'the Shenzhen municipal government'
        c.modifier |= bool(self.lang == "en" and prev and prev[-1] in ("a", "an"))  # German 'an' is 'in'
        c.modifier |= bool(self.lang in ("fr", "de") and prev and prev[-1] in _ARTICLES)
        if not c.vendor:
            words = {w.lower() for w in c.name.split()}
            c.modifier |= c.name.lower() in _PLACES or bool(words & (_PUBLIC_WORDS | _INVESTOR_WORDS))
            c.modifier |= sentence_initial and self.common_word(c.name)
            if self.lang == "de":
                recurring = self.capitalised_count(c.name.split()[0]) > 1
                c.modifier |= not _german_name(c.name, prev, nxt, sentence_initial, recurring)
        return c

    def candidates(self, sent: str, lo: int, hi: int) -> list[_Cand]:
        """Company-like names in sent[lo:hi]: capitalised runs and literal vendor names, flagged."""
        first = len(sent) - len(sent.lstrip())
        cands: list[_Cand] = []
        for m in _CAP_RE.finditer(sent, lo, hi):
            trimmed = _trim_span(sent, m)
            if trimmed and self.lang == "de":
                trimmed = _german_descriptor_cut(trimmed)
            if trimmed:
                start, end, written = trimmed
                name, vendor = self.resolve(written)
                cands.append(self._flags(sent, _Cand(start, end, name, vendor), start == first))
        for start, end in self.lower_case_names(sent, lo, hi):
            if not any(c.start < end and start < c.end for c in cands):
                name, vendor = self.resolve(sent[start:end])
                cands.append(self._flags(sent, _Cand(start, end, name, vendor), start == first))
        literal = [*self.vendors_in(sent[lo:hi]), *self.known] if self.vendors else []
        for name in dict.fromkeys(literal):
            for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", sent[lo:hi]):
                s, e = lo + m.start(), lo + m.end()
                if not any(c.start < e and s < c.end and c.vendor for c in cands):
                    cands = [c for c in cands if not (c.start < e and s < c.end)]
                    cands.append(self._flags(sent, _Cand(s, e, name, True), s == first))
        for m in _APPOSITION_RE.finditer(sent, lo, hi):
            if not any(0 <= m.start() - c.end <= 2 for c in cands):
                continue  # 'Selon plusieurs sources, la start-up Synapsia, qui ...': no name before the comma
            for c in cands:
                c.aside |= m.start() < c.start and c.end <= m.end()
        cands.sort(key=lambda c: c.start)
        dateline = _DATELINE_RE.match(sent, first)
        if dateline:
            cands = [c for c in cands if c.start >= dateline.end()]
        for c in cands:
            if c.start == first and not c.vendor and _LABEL_RE.match(sent, c.end):
                c.modifier = True  # 'Rumour mill: Sutter AI is said to ...', 'Strasbourg : la medtech ...'
        for owner, named in zip(cands, cands[1:], strict=False):  # "Tel Aviv's Orca Runtime raised"
            if owner.possessive and not owner.vendor and named.start - owner.end <= 3:
                owner.modifier = True
            elif _DESCRIBED_NEXT_RE.fullmatch(sent, owner.end, named.start):
                owner.modifier = True  # 'Bristol chip start-up Photonwise', 'Cursor maker Anysphere'
        return cands

    def lower_case_names(self, sent: str, lo: int, hi: int) -> list[tuple[int, int]]:
        """Spans of names written in lower case in sent[lo:hi] (not common words of the languages)."""
        spans = [m.span() for m in _ODD_NAME_RE.finditer(sent, lo, hi)]
        # 'io, the hardware start-up', not 'Selon nos informations, la start-up'
        spans += [m.span(1) for m in _BEFORE_NOUN_RE.finditer(sent, lo, hi)
                  if m.group(1) not in _STOP and not (len(m.group(1)) > 3 and m.group(1) in common_words())
                  and not set(_prev_tokens(sent, m.start(1), 1)) & _POSSESSIVES]
        if self.lang != "fr":  # French adjectives follow the noun: 'la start-up bordelaise'
            spans += [m.span(1) for m in _AFTER_NOUN_RE.finditer(sent, lo, hi)  # not 'the company said'
                      if m.group(1) not in common_words() and m.group(1) not in _STOP]
        return sorted(set(spans))

    def mentions(self, idx: int) -> list[_Cand]:
        """Plausible company names of sentence `idx` (cached)."""
        if idx not in self._mentions:
            s, e = self.sentences[idx]
            sent = self.text[s:e]
            cands = self.candidates(sent, 0, min(len(sent), 600))
            bracketed = [c for c in cands
                         if sent[c.start - 1 : c.start] == "(" and sent[c.end : c.end + 1] == ")"]
            self._mentions[idx] = [c for c in cands if not (c.investor or c.modifier or c in bracketed)]
        return self._mentions[idx]

    def context(self, idx: int, exclude: str = "") -> tuple[str, bool] | None:
        """The company of the last few sentences (see ``_context``), cached: a sentence's drafts join
        only after all its amounts are read, so the answer holds for the whole sentence."""
        if (idx, exclude) not in self._contexts:
            self._contexts[idx, exclude] = self._context(idx, exclude)
        return self._contexts[idx, exclude]

    def _context(self, idx: int, exclude: str) -> tuple[str, bool] | None:
        """The company a pronoun most likely refers to: the most salient one of the last few sentences.

        A sentence's subject counts 2/distance, any other mention 0.5/distance (half that for a name the
        vendor finder does not know, when one is given), each earlier event 2/distance, a quarter of
        log(1 + the times the whole text names it), and 1 when the headline names it; a name in
        brackets (a dateline's agency) does not count; ties go to the most recent.
        """
        scores: dict[str, list[float]] = {}

        def add(name: str, vendor: bool, weight: float, recency: int) -> None:
            entry = scores.setdefault(name, [0.0, -1.0, float(vendor)])
            entry[0] += weight
            entry[1] = max(entry[1], recency)

        for j in range(idx - 1, max(-1, idx - 9), -1):
            for n, c in enumerate(self.mentions(j)):
                known = 1.0 if c.vendor or self.vendors is None else 0.5
                role = 2.0 if n == 0 and c.head else 0.5
                add(c.name, c.vendor, known * role / (idx - j), j)
        for d in reversed(self.drafts):  # in sentence order: the recent ones are at the end
            if idx - d.sentence_idx > 8:
                break
            if d.event.company:
                add(d.event.company, d.vendor, 2.0 / max(1, idx - d.sentence_idx), d.sentence_idx)
        if not scores:
            return None
        for name, entry in scores.items():  # what the whole text, and its headline, are about count too
            entry[0] += 0.5 * math.log1p(self.named_count(name)) + (1.5 if self.in_title(name) else 0.0)
        scores.pop(exclude, None)  # the investor of the sentence at hand
        if not scores:
            return None
        name = max(scores, key=lambda k: (scores[k][0], scores[k][1]))
        return name, bool(scores[name][2])

    def in_title(self, name: str) -> bool:
        """Whether the headline names the company (its first word for a longer name)."""
        head = name.split()[0] if name.split() else name
        return bool(self.title) and re.search(rf"(?<!\w){re.escape(head)}(?!\w)", self.title) is not None

    def named_count(self, name: str) -> int:
        """How often the text writes the name (its first word for a longer name; cached)."""
        head = name.split()[0] if name.split() else name
        if head not in self._named:
            self._named[head] = len(re.findall(rf"(?<!\w){re.escape(head)}(?!\w)", self.text))
        return self._named[head]

    def company(
        self, idx: int, sent: str, a: _Amount, cue: re.Match[str], kind: str, region: int
    ) -> tuple[str, bool] | None:
        """(name, is_vendor) of the company receiving the money, or None: the learned scorer's
        choice among the candidates when there is one, else the rules'."""
        cands = self.candidates(sent, max(0, a.start - 400), min(len(sent), a.end + 200))
        pick = self._rules_company(idx, sent, a, cue, kind, region, cands)
        if self.scorer is None and self.trace is None:
            return pick
        found = company_options(self, idx, sent, a, cue, kind, cands, pick)
        if self.trace is not None:
            self.trace.append((sent, a, found))
        if self.scorer is None or (pick is None and kind == "acquisition"):
            return pick  # 'bought $400m of chips' names no company bought: no event
        return self.scorer.choose(found)

    def _invested_in(self, idx: int, sent: str, a: _Amount, cands: list[_Cand],
                     investor: _Cand) -> tuple[str, bool] | None:
        """The subject invests ('ASML led a €1.7bn round in Mistral AI', 'Nvidia will put in up to
        $800m'): the company named after 'in', 'dans', 'an' past the amount, the company a
        description there refers to, or the one the previous sentences were about."""
        target = _TARGET_RE.search(sent, a.end, min(len(sent), a.end + 80))
        if target:
            named = next((c for c in cands if c.start == target.end() and not c.modifier), None)
            if named:
                return named.name, named.vendor
        return self.context(idx, exclude=investor.name)

    def _bought_before(self, idx: int, sent: str, a: _Amount, cue: re.Match[str]) -> tuple[str, bool] | None:
        """A price told apart from the purchase ('X has agreed to buy Jalan AI. X will pay S$120m';
        'Den Kaufpreis beziffern die Unternehmen auf 95 Mio. Euro'; 'is paying $700m for the Tel Aviv
        start-up'): the company bought in the last two sentences, or the one a description means."""
        if not _PRICE_RE.search(cue.group()):
            return None
        target = _FOR_RE.match(sent, a.end, min(len(sent), a.end + 40))
        if target and _COMPANY_DESCRIPTION_RE.match(sent, target.end()):
            return self.context(idx)
        for j in range(idx - 1, max(-1, idx - 3), -1):
            s, e = self.sentences[j]
            before = self.text[s:e]
            bought = _ACQ_RE.search(before)
            if bought and not _PRICE_RE.search(bought.group()):
                after = [c for c in self.candidates(before, 0, len(before))
                         if c.start >= bought.end() and not (c.modifier or c.prep in ("by", "par", "von"))]
                if after:
                    return after[0].name, after[0].vendor
        return None

    def _rules_company(self, idx: int, sent: str, a: _Amount, cue: re.Match[str], kind: str, region: int,
                       cands: list[_Cand]) -> tuple[str, bool] | None:
        """The hand-written rules' pick: the company bought, the company invested in, the subject
        before the verb, the previous sentences' company, or the first name after the amount."""
        if kind == "acquisition":  # 'La start-up a été rachetée par AssemblyAI': the company just named
            passive = re.match(r"\s+(?:by|par|von|durch)\b", sent[cue.end() : cue.end() + 8], _I)
            return (_acquired(cands, sent, cue, a) or (self.context(idx) if passive else None)
                    or self._bought_before(idx, sent, a, cue))
        if kind == "grant":
            return _recipient(cands, sent, a, cue)
        investee = _investee(cands, sent, a, cue)
        if investee:
            return investee.name, investee.vendor
        into = _INTO_RE.match(sent, a.end, min(len(sent), a.end + 60))
        if into and _INVESTOR_CUE_RE.match(cue.group()) and _COMPANY_DESCRIPTION_RE.match(sent, into.end()):
            investor = _subject(cands, 0, min(cue.start(), a.start), sent)  # 'Nvidia will invest ... in
            # the Claude developer': the company just named, never the investor
            return self.context(idx, exclude=self.resolve(investor.name)[0] if investor else "")
        anchor = min(cue.start(), a.start)
        chosen = _subject(cands, region, anchor, sent) or _subject(cands, 0, anchor, sent)
        invests = _INVESTS_RE.search(sent[chosen.end : a.start]) if chosen else None
        if chosen and invests and not (self.lang == "fr" and invests.group().lower() == "pour"):  # 'for'
            return self._invested_in(idx, sent, a, cands, chosen)
        if chosen:
            return chosen.name, chosen.vendor
        ctx = self.context(idx)
        if ctx:
            return ctx
        clause_end = sent.find(";", a.end)  # never a name past the clause ('...; X ist ebenfalls dabei')
        after = [c for c in cands if c.start >= a.end and c.subject_ok
                 and (clause_end < 0 or c.start < clause_end)]
        return (after[0].name, after[0].vendor) if after else None


@dataclass
class _Draft:
    event: FundingEvent
    sentence_idx: int
    vendor: bool
    amount: _Amount


def _subject(cands: list[_Cand], lo: int, anchor: int, sent: str = "") -> _Cand | None:
    """The antecedent of a relative clause holding the verb, else the nearest vendor before the verb,
    else the first other name before it."""
    before = [c for c in cands if lo <= c.start and c.end <= anchor and c.subject_ok]
    rel = _last_match(_RELATIVE_RE, sent, lo, anchor) if sent else None
    if rel:
        antecedent = [c for c in before if 0 <= rel.start() - c.end <= 3]
        if antecedent:
            return antecedent[-1]
    vendors = [c for c in before if c.vendor]
    if vendors:
        return vendors[-1]
    return before[0] if before else None


def _investee(cands: list[_Cand], sent: str, a: _Amount, cue: re.Match[str]) -> _Cand | None:
    """'X invested $1bn in Y', 'poured $1bn into Y', 'paid $1bn for a stake in Y': Y receives the money."""
    hi = min(len(sent), a.end + 60)
    m = _STAKE_IN_RE.match(sent, a.end, hi)
    if not m and _INVESTOR_CUE_RE.match(cue.group()):
        m = _INTO_RE.match(sent, a.end, hi)
    if not m:  # 'co-led an $18.5M seed round in Quanta Loom': the round's company
        m = _ROUND_IN_RE.match(sent, a.end, hi)
    if not m and (shares := _shares_of(sent, a)):
        return next((c for c in cands if c.start == shares.start(1) and not c.modifier), None)
    if not m:
        m = _last_match(_STAKE_BEFORE_RE, sent, max(0, a.start - 160), a.start)
    if not m:
        return None
    # the name right after, or after a short description ('in die Wiener Robotikfirma Alpenmotion'); a
    # whole description ('in the Stockholm warehouse-bot maker') names no one here
    described = _COMPANY_DESCRIPTION_RE.match(sent, m.end())
    return _name_after(cands, sent, m.end(), 40, described.end() if described else m.end())


def _name_after(cands: list[_Cand], sent: str, at: int, reach: int, start: int) -> _Cand | None:
    """The first name from ``start`` to ``reach`` characters past ``at``, with no punctuation between."""
    return next((c for c in cands if start <= c.start <= at + reach and not c.modifier
                 and not re.search(r"[,.;:()]", sent[at : c.start])), None)


def _recipient(cands: list[_Cand], sent: str, a: _Amount, cue: re.Match[str]) -> tuple[str, bool] | None:
    """Who gets a grant: named after 'to', 'à', 'an' ('a £12m grant to Lumai'), else the subject
    before the amount when it is no public body ('Lumai received a £12m grant')."""
    m = _TO_RE.match(sent, max(a.end, cue.end()) if cue.start() >= a.end else a.end)
    if m:  # the name right after 'to', or after a short description ('à la société lyonnaise Kinéor')
        after = _name_after(cands, sent, m.end(), 50, m.end())
        if after:
            return after.name, after.vendor
    before = [c for c in cands if c.end <= a.start and c.subject_ok]
    return (before[-1].name, before[-1].vendor) if before else None


# a price or a payment, rather than a verb of buying
_PRICE_RE = re.compile(r"^(?:pay|paid|pays|paying|Kaufpreis|purchase price|prix|montant)", _I)
_FOR_RE = re.compile(r"\s*(?:\([^()]{0,40}\)\s*)?(?:for|pour|für)\s+", _I)
# 'Speechmatics agreed to sell itself to Deepgram': the seller is bought
_SELLS_ITSELF_RE = re.compile(r"\bsell(?:s|ing)?\s+itself\b|\bse\s+vendre\b|\bsich\s+(?:an\s+\S+\s+)?verkauf",
                              _I)


def _acquired(cands: list[_Cand], sent: str, cue: re.Match[str], a: _Amount) -> tuple[str, bool] | None:
    """The company bought: after the verb ('acquire X for $1bn', 'a $1bn takeover of X'), or before it
    in the passive ('X was acquired by'). 'bought $400m of chips' names no company bought."""
    passive = re.match(r"\s+(?:by|par|von|durch)\b", sent[cue.end() : cue.end() + 8], _I)
    passive = passive or _SELLS_ITSELF_RE.search(sent, max(0, cue.start() - 30), cue.end() + 12)
    if passive:
        before = [c for c in cands if c.end <= cue.start() and not (c.investor or c.modifier or c.aside)]
        pick = before[-1] if before else None
    else:
        stop = a.start if cue.end() <= a.start else len(sent)
        after = [
            c
            for c in cands
            if cue.end() <= c.start < stop and not (c.modifier or c.prep in ("by", "par", "durch", "from"))
        ]
        pick = after[0] if after else None
        if pick is None:  # 'paid around $700 million for Run:ai'
            target = _FOR_RE.match(sent, a.end, min(len(sent), a.end + 40))
            pick = next((c for c in cands if target and c.start == target.end() and not c.modifier), None)
    return (pick.name, pick.vendor) if pick else None


# --------------------------------------------------------------------------------------------- events


def _windows(amounts: list[_Amount], i: int, length: int) -> tuple[int, int]:
    a = amounts[i]
    lo = max(amounts[i - 1].end if i else 0, a.start - _LEFT)
    hi = min(amounts[i + 1].start if i + 1 < len(amounts) else length, a.end + _RIGHT)
    return lo, hi


def _draft(
    art: _Article, idx: int, sent: str, a: _Amount, bounds: tuple[int, int], found: _Cue, region: int
) -> _Draft | None:
    """Turn one event amount into a draft event, or None when no plausible AI-sector company receives it."""
    lo, hi = bounds
    _, cue, label = found
    if cue is None or (_is_capex(sent, a, cue) and not _into_vendor(art, sent, a)):
        return None
    usd = _usd(a.value, a.currency)
    if not _MIN_USD <= usd <= _MAX_USD:
        return None
    kind = _kind(sent, a, lo, hi, label)
    resolved = art.company(idx, sent, a, cue, kind, region)
    if resolved is None:
        return None
    name, vendor = resolved
    if {w.lower() for w in name.split()} & _PUBLIC_WORDS or not (
            vendor or art.ai or _AI_RE.search(sent) or name.endswith(".ai")):
        return None
    rnd = _round(sent, a, lo, hi) if kind in ("equity", "mixed") else None
    event = FundingEvent(name, a.value, a.currency, kind, rnd, None, " ".join(sent.split()))
    return _Draft(event, idx, vendor, a)


def _attach_valuations(art: _Article, idx: int, drafts: list[_Draft], valuations: list[_Amount]) -> None:
    """Give each valuation to the nearest event of its sentence, else to the previous sentence's event."""
    for v in valuations:
        before = [d for d in drafts if d.amount.start < v.start]
        after = [d for d in drafts if d.amount.start > v.start]
        target = None
        if before and before[-1].event.valuation is None:
            target = before[-1]
        elif after and after[0].event.valuation is None:
            target = after[0]
        elif not drafts:
            target = _orphan_target(art, idx)
        if target is None or target.event.kind in ("debt", "acquisition"):
            continue
        usd = _usd(v.value, v.currency)
        if _usd(target.event.amount, target.event.currency) <= usd <= _MAX_VALUATION_USD:
            target.event.valuation = v.value


def _orphan_target(art: _Article, idx: int) -> _Draft | None:
    """'The financing values the company at $230bn.': the previous sentence's event, or the one two
    sentences back when this sentence names its company again."""
    if not art.drafts or art.drafts[-1].event.valuation is not None:
        return None
    last = art.drafts[-1]
    gap = idx - last.sentence_idx
    if gap == 1:
        return last
    named = any(c.name == last.event.company for c in art.mentions(idx))
    return last if gap == 2 and named else None


def _sentence_events(art: _Article, idx: int) -> None:
    s, e = art.sentences[idx]
    sent = art.text[s:e]
    if not (_DIGIT_RE.search(sent) and _LETTER_RE.search(sent)):
        return
    low = sent.lower()
    if not any(stem in low for stem in _CUE_STEMS):
        return
    amounts = _drop_conversions(sent, _find_amounts(sent, art.lang))
    drafts: list[_Draft] = []
    valuations: list[_Amount] = []
    prev_event = False
    for i, a in enumerate(amounts):
        bounds = _windows(amounts, i, len(sent))
        cue = _cue(sent, a, *bounds)
        role = _role(sent, a, bounds, cue, amounts[i - 1] if i else None, prev_event)
        bought = _ACQ_RE.search(sent) if _DEAL_VALUE_RE.search(sent, max(0, a.start - 70), a.start) else None
        if bought:
            cue, role = (abs(a.start - bought.end()), bought, "acquisition"), "event"
        if role == "event" and drafts and _is_part(sent, drafts[-1].amount, a):
            role = "none"
        prev_event = False
        if role == "event" and drafts and _alongside_after_comma(sent, drafts[-1].amount, a):
            role = "alongside"
        if role == "valuation":
            valuations.append(a)
        elif role == "event":
            region = drafts[-1].amount.end if drafts else 0
            draft = _draft(art, idx, sent, a, bounds, cue, region)
            if draft:
                drafts.append(draft)
                prev_event = True
        elif drafts and (role == "alongside" or cue[1] is None and _alongside(sent, drafts[-1].amount, a)):
            drafts.append(_Draft(replace(drafts[-1].event, amount=a.value, currency=a.currency, round=None,
                                         valuation=None), idx, drafts[-1].vendor, a))
            prev_event = True
    _attach_valuations(art, idx, drafts, valuations)
    art.drafts.extend(drafts)


_ALONGSIDE_RE = re.compile(r"^[^;:.]{0,80}?\b(?:and|with|while|et|und|sowie)\s+(?:\w+\s+){0,3}?"
                           r"[A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*){0,3}\s+(?:\w+\s+){0,3}?$")


def _alongside(sent: str, first: _Amount, a: _Amount) -> bool:
    """'Nvidia will invest up to $10bn in Anthropic, and Microsoft up to $5bn': a second investor's
    share in the same company, its verb left out (no cue of its own beside the amount)."""
    gap = sent[first.end : a.start]
    return bool(_ALONGSIDE_RE.match(gap)) and not _NEG_RE.search(gap)


_ALONGSIDE_COMMA_RE = re.compile(r"^[^;:.]{0,60}?,\s+[A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*){0,3}\s+"
                                 r"(?:(?:bis zu|up to|jusqu['’]à|rund|etwa|about|around|environ)\s+)?$")


def _alongside_after_comma(sent: str, first: _Amount, a: _Amount) -> bool:
    """'Siemens will bis zu 80 Mio. Euro in das Unternehmen investieren, Nvidia bis zu 40 Mio. Euro':
    after a comma, a second investor's share in the company the first one invests in."""
    gap = sent[first.end : a.start]
    return (bool(_ALONGSIDE_COMMA_RE.match(gap)) and not _NEG_RE.search(gap)
            and bool(_INVESTOR_CUE_RE.search(sent, 0, a.start)))


def _is_part(sent: str, total: _Amount, a: _Amount) -> bool:
    """'$3bn through $1bn of new shares and $2bn of notes': a share of the total stated just before."""
    gap = sent[total.end : a.start]
    return len(gap) <= 80 and ";" not in gap and bool(_PARTS_RE.search(gap)) and not _BLOCK_RE.search(gap)


def _dedupe(drafts: list[_Draft]) -> list[FundingEvent]:
    """One event per (company, amount, currency), keeping the round and valuation any mention gave."""
    kept: dict[tuple[str, float, str], FundingEvent] = {}
    for d in drafts:
        ev = d.event
        ev.known = d.vendor
        key = ((ev.company or "").casefold(), round(ev.amount, 2), ev.currency)
        if key not in kept:
            kept[key] = ev
            continue
        first = kept[key]
        first.round = first.round or ev.round
        first.valuation = first.valuation if first.valuation is not None else ev.valuation
    return list(kept.values())


def _article_names(text: str) -> tuple[str, ...]:
    """Multi-word capitalised names of a text, so that a later 'Mistral' reads as 'Mistral AI'."""
    names: dict[str, None] = {}
    for m in _CAP_RE.finditer(text):
        trimmed = _trim_span(text, m)
        if trimmed and " " in trimmed[2] and not {w.lower() for w in trimmed[2].split()} & _NOT_NAME_WORDS:
            names.setdefault(trimmed[2], None)
    return tuple(names)


def _count_ai_terms(text: str, enough: int = 2) -> int:
    count = 0
    for _ in _AI_RE.finditer(text):
        count += 1
        if count >= enough:
            break
    return count


def extract_funding(
    text: str, *, lang: str | None = None, vendors: VendorFinder | None = None, title: str = "",
    scorer: CompanyScorer | None | bool = True,
    trace: list[tuple[str, _Amount, list[Option]]] | None = None,
) -> list[FundingEvent]:
    """Funding events stated in `text`.

    `lang` ('en', 'fr', 'de') is guessed when omitted. `vendors` returns the canonical vendor names found in
    a piece of text (a gazetteer matcher); without it company names come from capitalisation alone.
    `title`, the headline, helps tell which company 'the start-up' or 'Elle' means. `scorer` chooses
    the company among the candidates (True: the shipped weights; None or False: the
    rules alone); `trace`, when given, collects every amount's candidates (for fitting the scorer).
    """
    if not text or not text.strip():
        return []
    chosen = load_company_scorer() if scorer is True else (scorer or None)
    art = _Article(text=text, lang=lang or guess_language(text[:5000]) or "en", vendors=vendors,
                   title=title or "", scorer=chosen, trace=trace)
    art.sentences = sentence_spans(text)
    for idx in range(len(art.sentences)):
        _sentence_events(art, idx)
    return _dedupe(art.drafts)
