#!/usr/bin/env python3
"""Labelled corpus for pdgate's detectors: synthetic RU/EN/DE customer messages with planted
identifiers (valid checksums, every shape the README lists) and look-alike negatives (numbers of
the same shape that are not personal: failing checksums, tracking and order numbers, versions).

Deterministic: the same seed gives the same corpus (Python's `random.Random` with an int seed is
stable across versions). `phonenumbers` (Google's libphonenumber) decides which phone numbers are
valid, independently of the Rust crate pdgate uses.

    python3 benches/detectors/generate.py --seed 23 --messages 2000 > tests/detectors/corpus.jsonl

Each line: {"id", "lang", "text", "ids": [{"kind", "shape", "start", "end"}],
"negatives": [{"like", "shape", "start", "end"}]}, offsets in Unicode code points.
"""

import argparse
import json
import random

import phonenumbers


def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(num):
    return luhn_digit(num[:-1]) == num[-1]


def weighted(ds, ws):
    return sum(int(d) * w for d, w in zip(ds, ws))


def inn10_check(b):
    return str(weighted(b, [2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10)


def inn12_checks(b):
    c1 = str(weighted(b, [7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10)
    c2 = str(weighted(b + c1, [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) % 11 % 10)
    return c1 + c2


def snils_check(b):
    s = weighted(b, [9, 8, 7, 6, 5, 4, 3, 2, 1])
    if s < 100:
        c = s
    elif s in (100, 101):
        c = 0
    else:
        c = s % 101
        c = 0 if c == 100 else c
    return f"{c:02d}"


def kz_check(b):
    c = weighted(b, range(1, 12)) % 11
    if c == 10:
        c = weighted(b, [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]) % 11
    return None if c == 10 else str(c)


def iban_check(country, bban):
    s = bban + country + "00"
    n = int("".join(str(int(c, 36)) for c in s))
    return f"{98 - n % 97:02d}"


class Gen:
    def __init__(self, rng):
        self.r = rng

    def digits(self, n, first="0123456789"):
        return self.r.choice(first) + "".join(self.r.choice("0123456789") for _ in range(n - 1))

    # --- valid identifiers: (shape, text) -------------------------------------------------
    def inn(self):
        if self.r.random() < 0.6:
            b = self.digits(9, "123456789")
            return "inn10", b + inn10_check(b)
        b = self.digits(10, "123456789")
        return "inn12", b + inn12_checks(b)

    def snils(self):
        while True:
            b = self.digits(9, "123456789")
            if int(b) > 1001998:
                break
        v = b + snils_check(b)
        shape = self.r.choice(["dashed", "dashed_dash", "compact"])
        if shape == "dashed":
            return shape, f"{v[:3]}-{v[3:6]}-{v[6:9]} {v[9:]}"
        if shape == "dashed_dash":
            return shape, f"{v[:3]}-{v[3:6]}-{v[6:9]}-{v[9:]}"
        return shape, v

    def ogrn(self):
        b = self.r.choice("15") + self.digits(11)
        return "ogrn", b + str(int(b) % 11 % 10)

    def ogrnip(self):
        b = "3" + self.digits(13)
        return "ogrnip", b + str(int(b) % 13 % 10)

    def card(self):
        brand = self.r.choice(["visa", "mc", "mir", "amex", "diners", "visa19", "mir19"])
        prefix, length = {
            "visa": ("4", 16),
            "mc": (self.r.choice(["51", "52", "53", "54", "55", "2221", "2720"]), 16),
            "mir": ("220" + self.r.choice("01234"), 16),
            "amex": (self.r.choice(["34", "37"]), 15),
            "diners": ("36", 14),
            "visa19": ("4", 19),
            "mir19": ("220" + self.r.choice("01234"), 19),
        }[brand]
        body = prefix + self.digits(length - len(prefix) - 1)
        num = body + luhn_digit(body)
        sep = self.r.choice([" ", "-", ""])
        groups = {15: [4, 6, 5], 14: [4, 6, 4], 16: [4, 4, 4, 4], 19: [4, 4, 4, 4, 3]}[length]
        if sep == "" or self.r.random() < 0.1 and length == 16:
            return f"{brand}_compact", num
        out, i = [], 0
        for g in groups:
            out.append(num[i:i + g])
            i += g
        return f"{brand}_{'spaces' if sep == ' ' else 'dashes'}", sep.join(out)

    def iban(self):
        country, bban = self.r.choice([
            ("DE", lambda: self.digits(18)),
            ("GB", lambda: self.r.choice(["WEST", "BARC", "NWBK"]) + self.digits(14)),
            ("FR", lambda: self.digits(23)),
            ("KZ", lambda: self.digits(16)),
            ("AT", lambda: self.digits(16)),
        ])
        bban = bban()
        v = country + iban_check(country, bban) + bban
        if self.r.random() < 0.5:
            return "compact", v
        return "spaced", " ".join(v[i:i + 4] for i in range(0, len(v), 4))

    def ipv4(self):
        return "dotted", ".".join(str(x) for x in [self.r.randint(11, 223)] + [self.r.randint(0, 255) for _ in range(2)] + [self.r.randint(1, 254)])

    def ipv6(self):
        groups = [f"{self.r.randint(0, 0xffff):x}" for _ in range(8)]
        groups[0] = self.r.choice(["2001", "2a02", "fe80", "2a00"])
        if self.r.random() < 0.5:
            return "full", ":".join(groups)
        return "compressed", ":".join(groups[:3]) + "::" + ":".join(groups[6:])

    def kz_iin(self):
        while True:
            y, m, d = self.r.randint(0, 99), self.r.randint(1, 12), self.r.randint(1, 28)
            b = f"{y:02d}{m:02d}{d:02d}" + self.r.choice("3456") + self.digits(4)
            c = kz_check(b)
            if c is not None:
                return "iin", b + c

    def kz_bin(self):
        while True:
            y, m = self.r.randint(0, 25), self.r.randint(1, 12)
            b = f"{y:02d}{m:02d}" + self.r.choice("456") + self.r.choice("0124") + self.digits(5)
            c = kz_check(b)
            if c is not None:
                return "bin", b + c

    def passport(self):
        series = f"{self.r.randint(1, 99):02d}{self.r.randint(0, 26):02d}"
        number = self.digits(6, "123456789")
        shape = self.r.choice(["spaced", "series_grouped", "compact", "words", "foreign"])
        if shape == "spaced":
            return shape, f"{series[:2]} {series[2:]} {number}"
        if shape == "series_grouped":
            return shape, f"{series} {number}"
        if shape == "compact":
            return shape, series + number
        if shape == "words":
            return shape, f"{series} № {number}"
        return shape, self.r.choice(["75", "76", "77"]) + self.digits(7)

    def email(self):
        shape = self.r.choice(["ascii", "ascii", "ascii", "cyrillic", "idn_domain"])
        first = self.r.choice(["ivan", "maria", "john", "anna", "petra", "k.schmidt", "olga_v", "max"])
        if shape == "ascii":
            dom = self.r.choice(["mail.ru", "yandex.ru", "gmail.com", "example.de", "corp.co.uk", "inbox.kz"])
            return shape, f"{first}{self.r.choice(['', '.', '_'])}{self.r.randint(1, 999)}@{dom}"
        if shape == "cyrillic":
            local = self.r.choice(["заказы", "иван.петров", "мария", "почта", "служба"])
            return shape, f"{local}@{self.r.choice(['пример.рф', 'почта.рф', 'магазин.рф'])}"
        return shape, f"{first}@{self.r.choice(['münchen.de', 'bücher.example', 'straße.de'])}"

    def phone(self):
        region = self.r.choice(["RU", "RU", "RU", "KZ", "KZ", "GB", "DE", "US"])
        while True:
            nsn = {
                "RU": lambda: self.r.choice(["9" + self.digits(2), "495", "499", "812"]) + self.digits(7),
                "KZ": lambda: self.r.choice(["701", "705", "707", "747", "777", "727"]) + self.digits(7, "23456789"),
                "GB": lambda: self.r.choice(["7700", "7911", "7400", "2079", "2071"]) + self.digits(6),
                "DE": lambda: self.r.choice(["151", "160", "171", "30", "89"]) + self.digits(8 if self.r.random() < 0.5 else 7, "123456789"),
                "US": lambda: self.r.choice(["212", "415", "646", "312", "617"]) + self.digits(7, "23456789"),
            }[region]()
            try:
                n = phonenumbers.parse(nsn, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(n) and phonenumbers.region_code_for_number(n) == region:
                break
        fmt = phonenumbers.PhoneNumberFormat
        intl = phonenumbers.format_number(n, fmt.INTERNATIONAL)
        national = phonenumbers.format_number(n, fmt.NATIONAL)
        e164 = phonenumbers.format_number(n, fmt.E164)
        choices = [("e164", e164), ("intl", intl)]
        if region in ("RU", "KZ"):
            d = nsn
            choices += [
                ("national", national),
                ("intl_brackets", f"+7 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"),
                ("national_dashes", f"8-{d[:3]}-{d[3:6]}-{d[6:8]}-{d[8:]}"),
                ("national_compact", "8" + d),
                ("intl_spaces", f"+7 {d[:3]} {d[3:6]} {d[6:8]} {d[8:]}"),
            ]
        else:
            choices += [("national", national)]
        shape, text = self.r.choice(choices)
        return f"{region.lower()}_{shape}", text

    # --- look-alike negatives: (like, shape, text) -----------------------------------------
    def negative(self):
        kind = self.r.choice([
            "version", "tracking", "ogrn_bad", "courier", "inn_bad", "snils_bad", "order", "date",
            "price", "phone_bad", "iban_bad", "card_bad", "ean",
        ])
        if kind == "version":
            return "ipv4", kind, ".".join(str(self.r.randint(0, 20)) for _ in range(4))
        if kind == "tracking":
            body = self.digits(13, "123456789")
            return "card", kind, body + luhn_digit(body)
        if kind == "ogrn_bad":
            while True:
                b = self.r.choice("15") + self.digits(12)
                if int(b[:12]) % 11 % 10 != int(b[12]) and luhn_ok(b):
                    return "ogrn", kind, b
        if kind == "courier":
            b = self.digits(9, "123456789")
            return "inn", kind, b + inn10_check(b)
        if kind == "inn_bad":
            b = self.digits(9, "123456789")
            return "inn", kind, b + str((int(inn10_check(b)) + 1) % 10)
        if kind == "snils_bad":
            b = self.digits(9, "123456789")
            c = (int(snils_check(b)) + 1) % 100
            v = b + f"{c:02d}"
            return "snils", kind, f"{v[:3]}-{v[3:6]}-{v[6:9]} {v[9:]}"
        if kind == "order":
            return "passport", kind, self.digits(self.r.choice([6, 7, 8]), "123456789")
        if kind == "date":
            return "phone", kind, f"{self.r.randint(1, 28):02d}.{self.r.randint(1, 12):02d}.{self.r.randint(2019, 2026)}"
        if kind == "price":
            return "phone", kind, f"{self.r.randint(1, 99)} {self.r.randint(0, 999):03d}"
        if kind == "phone_bad":
            v = self.r.choice([
                f"+7 (1{self.digits(2)}) {self.digits(3)}-{self.digits(2)}-{self.digits(2)}",
                f"+1 (1{self.digits(2)}) {self.digits(3)}-{self.digits(4)}",
                f"+44 {self.digits(3)}",
            ])
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(v, None)):
                    v = "+44 123"
            except phonenumbers.NumberParseException:
                pass
            return "phone", kind, v
        if kind == "iban_bad":
            bban = self.digits(18)
            good = iban_check("DE", bban)
            bad = f"{(int(good) + 1) % 97 + 2:02d}"
            v = "DE" + bad + bban
            return "iban", kind, " ".join(v[i:i + 4] for i in range(0, len(v), 4))
        if kind == "card_bad":
            body = "4" + self.digits(14)
            last = str((int(luhn_digit(body)) + 1) % 10)
            v = body + last
            return "card", kind, " ".join(v[i:i + 4] for i in range(0, 16, 4))
        body = self.r.choice(["400", "401", "460", "590"]) + self.digits(9)
        ean = body + str((10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10) % 10)
        return "card", kind, ean


# Templates: {x} is where the identifier goes. Context words are those a customer would write.
IDS = {
    "phone": {
        "ru": ["Мой телефон {x}, звоните после шести.", "Перезвоните мне на {x}", "Номер для связи: {x}.", "Курьер, наберите {x} за час до доставки."],
        "en": ["Call me at {x} after six.", "My number is {x}.", "Please text {x} when the parcel arrives.", "Reach me on {x}"],
        "de": ["Rufen Sie mich unter {x} an.", "Meine Telefonnummer: {x}.", "Erreichbar unter {x} ab 18 Uhr."],
    },
    "email": {
        "ru": ["Пишите на {x}, отвечу быстро.", "Моя почта {x}", "Отправьте счёт на {x}."],
        "en": ["Send the invoice to {x}.", "My e-mail is {x}", "You can write to {x} any time."],
        "de": ["Schreiben Sie an {x}.", "Meine E-Mail-Adresse ist {x}."],
    },
    "card": {
        "ru": ["Оплатил картой {x}, деньги списались дважды.", "Верните деньги на карту {x}.", "Номер карты {x}, срок 12/27."],
        "en": ["I paid with card {x} and was charged twice.", "Refund to my card {x} please.", "Card number: {x}"],
        "de": ["Ich habe mit der Karte {x} bezahlt.", "Bitte auf die Kreditkarte {x} erstatten."],
    },
    "iban": {
        "ru": ["Реквизиты для возврата: IBAN {x}.", "Счёт {x}, получатель я."],
        "en": ["Please refund to IBAN {x}.", "My account: {x}"],
        "de": ["Bitte überweisen Sie auf {x}.", "Meine IBAN lautet {x}."],
    },
    "inn": {
        "ru": ["Мой ИНН {x}, нужен чек.", "ИНН: {x}", "Укажите в документах ИНН {x}."],
        "en": ["Tax number (INN) {x} for the receipt.", "My INN is {x}."],
        "de": ["Steuernummer (INN): {x}."],
    },
    "snils": {
        "ru": ["СНИЛС {x}", "Мой СНИЛС: {x}, для справки.", "Прилагаю СНИЛС {x}."],
        "en": ["SNILS {x} as requested."],
        "de": ["SNILS-Nummer {x}."],
    },
    "ogrn": {
        "ru": ["ОГРН {x}, ООО «Ромашка».", "Наш ОГРН: {x}."],
        "en": ["Company registration (OGRN) {x}."],
        "de": ["OGRN der Firma: {x}."],
    },
    "ogrnip": {
        "ru": ["ОГРНИП {x}, ИП Иванов.", "Я ИП, ОГРНИП: {x}."],
        "en": ["Sole trader OGRNIP {x}."],
        "de": ["OGRNIP {x}."],
    },
    "passport": {
        "ru": ["Паспорт {x}, выдан ОВД.", "Данные паспорта: {x}.", "Мой паспорт {x}"],
        "en": ["Passport {x}, issued in Moscow.", "My passport number is {x}."],
        "de": ["Reisepass {x}."],
    },
    "ipv4": {
        "ru": ["Заходил с адреса {x}, доступ заблокирован.", "Мой IP {x}."],
        "en": ["I logged in from {x} and got blocked.", "My IP address is {x}."],
        "de": ["Meine IP-Adresse war {x}."],
    },
    "ipv6": {
        "ru": ["Мой адрес {x}, доступ закрыт."],
        "en": ["Connecting from {x} fails."],
        "de": ["Verbindung von {x} schlägt fehl."],
    },
    "kz_iin": {
        "ru": ["Мой ИИН {x}, Алматы.", "ИИН: {x}"],
        "en": ["My IIN is {x}."],
        "de": ["IIN {x}."],
    },
    "kz_bin": {
        "ru": ["БИН компании {x}.", "Наш БИН: {x}"],
        "en": ["Company BIN {x}."],
        "de": ["BIN der Firma {x}."],
    },
}
FOREIGN_PASSPORT = {
    "ru": "Загранпаспорт {x}.",
    "en": "Foreign passport {x}.",
    "de": "Reisepass {x}.",
}
NEGATIVES = {
    "version": {"ru": "Версия приложения {x}.", "en": "App version {x}.", "de": "App-Version {x}."},
    "tracking": {"ru": "Трек-номер {x}.", "en": "Tracking number {x}.", "de": "Sendungsnummer {x}."},
    "ogrn_bad": {"ru": "ОГРН {x}.", "en": "OGRN {x}.", "de": "OGRN {x}."},
    "courier": {"ru": "Номер курьера {x}.", "en": "Courier ID {x}.", "de": "Kurier-Nr. {x}."},
    "inn_bad": {"ru": "ИНН {x} (старый).", "en": "INN {x} (old).", "de": "INN {x} (alt)."},
    "snils_bad": {"ru": "СНИЛС {x}?", "en": "SNILS {x}?", "de": "SNILS {x}?"},
    "order": {"ru": "Заказ №{x}.", "en": "Order #{x}.", "de": "Bestellung Nr. {x}."},
    "date": {"ru": "Заказ от {x}.", "en": "Ordered on {x}.", "de": "Bestellt am {x}."},
    "price": {"ru": "Сумма {x} руб.", "en": "Total {x} RUB.", "de": "Summe {x} Euro."},
    "phone_bad": {"ru": "Неверный номер {x}.", "en": "Wrong number {x}.", "de": "Falsche Nummer {x}."},
    "iban_bad": {"ru": "Старый счёт {x}.", "en": "Old account {x}.", "de": "Altes Konto {x}."},
    "card_bad": {"ru": "Карта {x} не прошла.", "en": "Card {x} was declined.", "de": "Karte {x} abgelehnt."},
    "ean": {"ru": "Артикул {x}.", "en": "SKU {x}.", "de": "Artikel {x}."},
}
FILLER = {
    "ru": ["Здравствуйте!", "Добрый день.", "Заказ пришёл повреждённым.", "Спасибо за помощь.",
           "Доставка опоздала на два дня.", "Прошу разобраться.", "С уважением, Иван."],
    "en": ["Hello!", "Good afternoon.", "The order arrived damaged.", "Thanks for your help.",
           "Delivery was two days late.", "Please look into it.", "Best regards, John."],
    "de": ["Hallo!", "Guten Tag.", "Die Bestellung kam beschädigt an.", "Danke für Ihre Hilfe.",
           "Die Lieferung kam zwei Tage zu spät.", "Bitte prüfen Sie das.", "Mit freundlichen Grüßen, Anna."],
}
KIND_WEIGHTS = [
    ("phone", 30), ("email", 14), ("card", 12), ("iban", 6), ("inn", 6), ("snils", 5), ("ogrn", 3),
    ("ogrnip", 2), ("passport", 8), ("ipv4", 4), ("ipv6", 2), ("kz_iin", 4), ("kz_bin", 2),
]


def message(gen, r, mid):
    lang = r.choices(["ru", "en", "de"], [45, 35, 20])[0]
    parts = []  # (template, value, label)
    kinds = [k for k, _ in KIND_WEIGHTS]
    weights = [w for _, w in KIND_WEIGHTS]
    for _ in range(r.choice([1, 1, 2, 2, 2])):
        kind = r.choices(kinds, weights)[0]
        shape, value = getattr(gen, kind)()
        if kind == "passport" and shape == "foreign":
            tpl = FOREIGN_PASSPORT[lang]
        else:
            tpl = r.choice(IDS[kind][lang])
        if kind == "passport" and shape == "words":
            # The word is context, not the identifier: the span is the digits.
            tpl = tpl.replace("{x}", "серия {x}")
        parts.append((tpl, value, {"kind": kind, "shape": shape}))
    if r.random() < 0.55:
        like, shape, value = gen.negative()
        parts.append((NEGATIVES[shape][lang], value, {"like": like, "shape": shape}))
    r.shuffle(parts)
    text, ids, negatives = r.choice(FILLER[lang]), [], []
    for tpl, value, label in parts:
        if r.random() < 0.4:
            text += " " + r.choice(FILLER[lang])
        text += " "
        head, tail = tpl.split("{x}")
        start = len(text) + len(head)
        text += head + value + tail
        span = dict(label, start=start, end=start + len(value))
        (ids if "kind" in label else negatives).append(span)
    return {"id": mid, "lang": lang, "text": text, "ids": ids, "negatives": negatives}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--messages", type=int, default=2000)
    args = ap.parse_args()
    r = random.Random(args.seed)
    gen = Gen(r)
    for i in range(args.messages):
        print(json.dumps(message(gen, r, i), ensure_ascii=False))


if __name__ == "__main__":
    main()
