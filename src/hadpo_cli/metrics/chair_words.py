"""CHAIR's word lists: protocol data that the scores depend on, kept as data.

Source: the canonical CHAIR implementation of Rohrbach et al. 2018, "Object Hallucination in
Image Captioning" (github.com/LisaAnne/Hallucination): ``data/synonyms.txt`` for
:data:`SYNONYMS` and the hard-coded lists in ``utils/chair.py`` (``CHAIR.__init__``) for the
double words. The content is the same; only the layout is ours.

:data:`SYNONYMS`: one entry per COCO category, ``(category, synonyms)``; the category is the
"node word" every synonym counts as. The canonical file is read with ``line.strip().split(", ")``
and three of its entries can never match a caption word; they are kept exactly as the canonical
reader sees them, so they never match here either:

* ``" motor bike"`` and ``" cheesecake"`` follow a double space in the file, so they keep a
  leading space (a caption's words never start with one);
* ``"iPhone"`` has a capital letter, and captions are lowercased before matching.

Repeats within a line of the file (``bike``, ``scooter``, ``lamb``, ``cattle``, ``fridge``,
``jetliner``, ``guy``, ...; the category named again among its own synonyms) are written once
here: a repeat maps a word to the same category again and changes nothing.
"""

from __future__ import annotations

# (category, synonyms); the 80 categories in the order of synonyms.txt, which is COCO's order.
SYNONYMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "person",
        (
            "girl", "boy", "man", "woman", "kid", "child", "chef", "baker", "people", "adult",
            "rider", "children", "baby", "worker", "passenger", "sister", "biker", "policeman",
            "cop", "officer", "lady", "cowboy", "bride", "groom", "male", "female", "guy",
            "traveler", "mother", "father", "gentleman", "pitcher", "player", "skier",
            "snowboarder", "skater", "skateboarder", "foreigner", "caller", "offender",
            "coworker", "trespasser", "patient", "politician", "soldier", "grandchild",
            "serviceman", "walker", "drinker", "doctor", "bicyclist", "thief", "buyer",
            "teenager", "student", "camper", "driver", "solider", "hunter", "shopper", "villager",
        ),
    ),
    ("bicycle", ("bike", "unicycle", "minibike", "trike")),
    (
        "car",
        (
            "automobile", "van", "minivan", "sedan", "suv", "hatchback", "cab", "jeep", "coupe",
            "taxicab", "limo", "taxi",
        ),
    ),
    ("motorcycle", ("scooter", " motor bike", "motor cycle", "motorbike", "moped")),
    (
        "airplane",
        (
            "jetliner", "plane", "air plane", "monoplane", "aircraft", "jet", "airbus", "biplane",
            "seaplane",
        ),
    ),
    ("bus", ("minibus", "trolley")),
    ("train", ("locomotive", "tramway", "caboose")),
    ("truck", ("pickup", "lorry", "hauler", "firetruck")),
    (
        "boat",
        (
            "ship", "liner", "sailboat", "motorboat", "dinghy", "powerboat", "speedboat", "canoe",
            "skiff", "yacht", "kayak", "catamaran", "pontoon", "houseboat", "vessel", "rowboat",
            "trawler", "ferryboat", "watercraft", "tugboat", "schooner", "barge", "ferry",
            "sailboard", "paddleboat", "lifeboat", "freighter", "steamboat", "riverboat",
            "battleship", "steamship",
        ),
    ),
    ("traffic light", ("street light", "traffic signal", "stop light", "streetlight", "stoplight")),
    ("fire hydrant", ("hydrant",)),
    ("stop sign", ()),
    ("parking meter", ()),
    ("bench", ("pew",)),
    (
        "bird",
        (
            "ostrich", "owl", "seagull", "goose", "duck", "parakeet", "falcon", "robin", "pelican",
            "waterfowl", "heron", "hummingbird", "mallard", "finch", "pigeon", "sparrow",
            "seabird", "osprey", "blackbird", "fowl", "shorebird", "woodpecker", "egret",
            "chickadee", "quail", "bluebird", "kingfisher", "buzzard", "willet", "gull", "swan",
            "bluejay", "flamingo", "cormorant", "parrot", "loon", "gosling", "waterbird",
            "pheasant", "rooster", "sandpiper", "crow", "raven", "turkey", "oriole", "cowbird",
            "warbler", "magpie", "peacock", "cockatiel", "lorikeet", "puffin", "vulture",
            "condor", "macaw", "peafowl", "cockatoo", "songbird",
        ),
    ),
    ("cat", ("kitten", "feline", "tabby")),
    (
        "dog",
        (
            "puppy", "beagle", "pup", "chihuahua", "schnauzer", "dachshund", "rottweiler",
            "canine", "pitbull", "collie", "pug", "terrier", "poodle", "labrador", "doggie",
            "doberman", "mutt", "doggy", "spaniel", "bulldog", "sheepdog", "weimaraner", "corgi",
            "cocker", "greyhound", "retriever", "brindle", "hound", "whippet", "husky",
        ),
    ),
    (
        "horse",
        (
            "colt", "pony", "racehorse", "stallion", "equine", "mare", "foal", "palomino",
            "mustang", "clydesdale", "bronc", "bronco",
        ),
    ),
    ("sheep", ("lamb", "ram", "goat", "ewe")),
    (
        "cow",
        ("cattle", "oxen", "ox", "calf", "holstein", "heifer", "buffalo", "bull", "zebu", "bison"),
    ),
    ("elephant", ()),
    ("bear", ("panda",)),
    ("zebra", ()),
    ("giraffe", ()),
    ("backpack", ("knapsack",)),
    ("umbrella", ()),
    ("handbag", ("wallet", "purse", "briefcase")),
    ("tie", ("bow", "bow tie")),
    ("suitcase", ("suit case", "luggage")),
    ("frisbee", ()),
    ("skis", ("ski",)),
    ("snowboard", ()),
    ("sports ball", ("ball",)),
    ("kite", ()),
    ("baseball bat", ()),
    ("baseball glove", ()),
    ("skateboard", ()),
    ("surfboard", ("longboard", "skimboard", "shortboard", "wakeboard")),
    ("tennis racket", ("racket",)),
    ("bottle", ()),
    ("wine glass", ()),
    ("cup", ()),
    ("fork", ()),
    ("knife", ("pocketknife", "knive")),
    ("spoon", ()),
    ("bowl", ("container",)),
    ("banana", ()),
    ("apple", ()),
    ("sandwich", ("burger", "sub", "cheeseburger", "hamburger")),
    ("orange", ()),
    ("broccoli", ()),
    ("carrot", ()),
    ("hot dog", ()),
    ("pizza", ()),
    ("donut", ("doughnut", "bagel")),
    ("cake", (" cheesecake", "cupcake", "shortcake", "coffeecake", "pancake")),
    ("chair", ("seat", "stool")),
    ("couch", ("sofa", "recliner", "futon", "loveseat", "settee", "chesterfield")),
    ("potted plant", ("houseplant",)),
    ("bed", ()),
    ("dining table", ("table", "desk")),
    ("toilet", ("urinal", "commode", "lavatory", "potty")),
    ("tv", ("monitor", "televison", "television")),
    ("laptop", ("computer", "notebook", "netbook", "lenovo", "macbook", "laptop computer")),
    ("mouse", ()),
    ("remote", ()),
    ("keyboard", ()),
    (
        "cell phone",
        ("mobile phone", "phone", "cellphone", "telephone", "phon", "smartphone", "iPhone"),
    ),
    ("microwave", ()),
    ("oven", ("stovetop", "stove", "stove top oven")),
    ("toaster", ()),
    ("sink", ()),
    ("refrigerator", ("fridge", "freezer")),
    ("book", ()),
    ("clock", ()),
    ("vase", ()),
    ("scissors", ()),
    ("teddy bear", ("teddybear",)),
    ("hair drier", ("hairdryer",)),
    ("toothbrush", ()),
)  # fmt: skip

# Two-token phrases read as one word ("coco_double_words" in utils/chair.py), each standing for
# itself. "stove top oven" has three tokens and "hot dog"/"teddy bear" are listed twice there;
# the canonical code matches two-token windows only, so "stove top oven" never matches.
DOUBLE_WORDS: tuple[str, ...] = (
    "motor bike", "motor cycle", "air plane", "traffic light", "street light", "traffic signal",
    "stop light", "fire hydrant", "stop sign", "parking meter", "suit case", "sports ball",
    "baseball bat", "baseball glove", "tennis racket", "wine glass", "hot dog", "cell phone",
    "mobile phone", "teddy bear", "hair drier", "potted plant", "bow tie", "laptop computer",
    "stove top oven", "home plate", "train track",
)  # fmt: skip

# "baby X" / "adult X" is the animal X, not a person ("animal_words").
ANIMAL_WORDS: tuple[str, ...] = (
    "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
    "animal", "cub",
)  # fmt: skip

# "passenger X" is the vehicle X, not a person ("vehicle_words").
VEHICLE_WORDS: tuple[str, ...] = ("jet", "train")

# Pairs that stand for another word, applied after the lists above (so "bow tie" -> "tie").
# "wine glas" is pattern.en's singular of "wine glass" in the canonical pipeline.
SPECIAL_DOUBLE_WORDS: tuple[tuple[str, str], ...] = (
    ("bow tie", "tie"),
    ("toilet seat", "toilet"),
    ("wine glas", "wine glass"),
)


def double_word_table() -> dict[str, str]:
    """Two-token phrase -> the word it is read as, built in the canonical order."""
    table = {phrase: phrase for phrase in DOUBLE_WORDS}
    for animal in ANIMAL_WORDS:
        table[f"baby {animal}"] = animal
        table[f"adult {animal}"] = animal
    for vehicle in VEHICLE_WORDS:
        table[f"passenger {vehicle}"] = vehicle
    table.update(SPECIAL_DOUBLE_WORDS)
    return table
