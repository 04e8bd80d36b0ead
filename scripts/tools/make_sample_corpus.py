"""Write data/{train,dev,test}.conll: the small sample corpus nerwin trains on by default.

Every sentence comes from the templates and name lists below, written for this
project (CC0); none is copied from any corpus. Deterministic: same output each run.
Run: python scripts/tools/make_sample_corpus.py
"""
import random
from pathlib import Path

TEMPLATES = [
    "The museums in {LOC} are amazing .",
    "{PER} flew to {LOC} on Monday .",
    "{PER} works for {ORG} in {LOC} .",
    "We spent the summer in {LOC} and loved the food .",
    "{ORG} opened a new office in {LOC} last year .",
    "The train from {LOC} to {LOC} was late again .",
    "{PER} said the {MISC} festival was the best one yet .",
    "Shares of {ORG} fell sharply after the report .",
    "{PER} and {PER} met in {LOC} to sign the deal .",
    "The river runs through {LOC} before it reaches the sea .",
    "Tourists crowd the old streets of {LOC} every August .",
    "{ORG} hired {PER} as its new chief executive .",
    "The {MISC} community in {LOC} celebrated the new year .",
    "{PER} grew up near {LOC} and still visits often .",
    "Heavy rain closed several roads around {LOC} .",
    "A spokesman for {ORG} declined to comment .",
    "{PER} won the prize for her novel about {LOC} .",
    "The conference moves to {LOC} next spring .",
    "Fans of {ORG} waited outside the stadium for hours .",
    "{PER} speaks {MISC} and a little {MISC} .",
    "Prices in {LOC} have doubled in ten years .",
    "The mayor of {LOC} met leaders from {ORG} .",
    "{PER} told reporters that {ORG} would appeal .",
    "Our hotel in {LOC} had a view of the harbour .",
    "{ORG} and {ORG} agreed to merge their networks .",
    "The {MISC} film was shot entirely in {LOC} .",
    "{PER} coached the team for six seasons .",
    "Flights between {LOC} and {LOC} were cancelled because of fog .",
    "Students from {LOC} protested outside the offices of {ORG} .",
    "{PER} thanked the staff at {ORG} for their help .",
    "It snowed in {LOC} for the first time since 1990 .",
    "The bridge in {LOC} will be closed for repairs .",
    "{PER} is expected to visit {LOC} next week .",
    "The report by {ORG} praised the schools in {LOC} .",
    "A new {MISC} restaurant opened near the station .",
    "{PER} left {ORG} after twelve years .",
    "Hikers love the mountains north of {LOC} .",
    "{ORG} signed {PER} on a two-year contract .",
    "The {MISC} election results surprised everyone .",
    "I bought this jacket at a market in {LOC} .",
    "{PER} wrote a letter to the board of {ORG} .",
    "Police in {LOC} arrested two men on Friday .",
    "The ferry to {LOC} leaves every hour .",
    "{PER} plays guitar in a band from {LOC} .",
    "Engineers at {ORG} built the new bridge .",
    "The cheese from {LOC} is famous across Europe .",
    "My sister moved to {LOC} to study music .",
    "{ORG} reported record profits this quarter .",
    "The {MISC} team beat the visitors three to one .",
    "{PER} praised the volunteers who cleaned the beach .",
    "Nobody expected the storm to hit {LOC} so hard .",
    "The gallery in {LOC} shows modern art .",
    "Museums are free on Sundays .",
    "The weather was amazing all week .",
    "She said the concert was amazing .",
    "They walked in the park after lunch .",
    "Are the shops open on holidays ?",
    "The prices are amazing but the queues are long .",
]

NAMES = {
    "PER": ["Anna Lindqvist", "Marco", "Priya Natarajan", "Tom Becker", "Sofia", "Kwame Mensah",
            "Elena Petrova", "James", "Yuki Tanaka", "Omar Haddad", "Lucia Romero", "Chen Wei",
            "Fatima", "David Okafor", "Ingrid Olsen", "Rahul", "Maria Santos", "Peter Novak",
            "Aisha Bello", "Hugo Martin", "Nora", "Sam Carter", "Leila Karimi", "Jonas Berg"],
    "LOC": ["Paris", "Berlin", "Tokyo", "Nairobi", "Lima", "Oslo", "New York", "Cairo", "Madrid",
            "Sydney", "Toronto", "Mumbai", "Lisbon", "Prague", "Istanbul", "Buenos Aires",
            "Seoul", "Dublin", "Vienna", "Hanoi", "Accra", "Chicago", "Warsaw", "Athens",
            "Rome", "London", "Kyoto", "Bogota", "Helsinki", "Marseille", "Cape Town", "Texas",
            "Bavaria", "Scotland", "Kenya", "Peru", "Norway", "Egypt", "Japan", "Brazil"],
    "ORG": ["Siemens", "the United Nations", "Google", "Reuters", "Toyota", "the World Bank",
            "Oxfam", "Barcelona FC", "Nokia", "the BBC", "Unilever", "Red Cross", "Airbus",
            "Samsung", "the Bundesbank", "Greenpeace", "Ajax", "Microsoft", "Nestle", "IBM"],
    "MISC": ["French", "German", "Japanese", "Olympic", "Christmas", "Spanish", "Italian",
             "European", "Brazilian", "Irish", "Arabic", "Swedish", "Korean", "Dutch"],
}


def fill(template: str, rng: random.Random, names: dict) -> list[tuple[str, str]]:
    out = []
    for word in template.split():
        if word.startswith("{") and word.endswith("}"):
            typ = word[1:-1]
            name = rng.choice(names[typ])
            toks = name.split()
            if toks[0] == "the":           # the article is not part of the entity
                out.append((toks.pop(0), "O"))
            out += [(t, ("B-" if i == 0 else "I-") + typ) for i, t in enumerate(toks)]
        else:
            out.append((word, "O"))
    return out


def main() -> None:
    rng = random.Random(224)
    # train sees three quarters of each name list; dev and test draw from all of it
    seen = {k: v[: len(v) - len(v) // 4] for k, v in NAMES.items()}
    # every fourth template is held out: dev and test sentences are never train's sentences reworded
    held_out = TEMPLATES[1::4]
    train_templates = [t for t in TEMPLATES if t not in held_out]
    out = Path(__file__).resolve().parents[2] / "data"
    for split, n, names, templates in (("train", 420, seen, train_templates), ("dev", 100, NAMES, held_out),
                                       ("test", 100, NAMES, held_out)):
        sents, done = [], set()
        if split == "train":
            sents.append(fill(TEMPLATES[0], rng, {"LOC": ["Paris"]}))  # the lecture's sentence
        while len(sents) < n:
            s = fill(rng.choice(templates), rng, names)
            key = " ".join(t for t, _ in s)
            if key not in done:
                done.add(key)
                sents.append(s)
        with open(out / f"{split}.conll", "w", encoding="utf-8") as f:
            for s in sents:
                f.write("".join(f"{t}\t{tag}\n" for t, tag in s) + "\n")
        print(f"{split}: {len(sents)} sentences, {sum(len(s) for s in sents)} tokens")


if __name__ == "__main__":
    main()
