"""Per-agent event names (HSP's event features plus overcooked_ai's event log), as indices.

Events are counted per agent per step in an (N, 2, len(EVENT_NAMES)) int array. They follow
overcooked_ai's event log (``EVENT_TYPES``) with pickups/placements split by source (dispenser vs
counter, as HSP does) and a few extras HSP uses (stay, movement, pot start):

- ``<item>_pickup_dispenser`` / ``<item>_pickup_counter``: picked up an onion/tomato/dish from its
  dispenser or any object from a counter; ``soup_pickup_pot``: served a ready soup from a pot onto a dish.
- ``<item>_place_counter``: put the held item on an empty counter (overcooked_ai's ``<item>_drop``).
- ``useful_<item>_pickup`` / ``useful_<item>_drop``: overcooked_ai's usefulness rules (e.g. a dish pickup
  is useful if no dish lies on a counter and fewer dishes are held than there are non-empty pots). Unlike
  overcooked_ai, tomato pickups from a tomato dispenser are logged too (overcooked_ai forgets them).
- ``potting_onion`` / ``potting_tomato``: an ingredient went into a pot; ``optimal/viable/catastrophic/
  useless_potting``: overcooked_ai's classification of that potting (best reachable recipe value unchanged /
  still > 0 / dropped to 0 / was already 0).
- ``pot_start``: started cooking a pot by interacting (new dynamics only).
- ``soup_delivery``: delivered a soup at a serving window.
- ``stay``: chose the stay action; ``move``: changed cell; ``bump``: chose a move but did not change cell
  (wall or collision); ``idle_interact``: interacted with no effect.
"""

from __future__ import annotations

EVENT_NAMES: tuple[str, ...] = (
    "onion_pickup_dispenser",
    "tomato_pickup_dispenser",
    "dish_pickup_dispenser",
    "onion_pickup_counter",
    "tomato_pickup_counter",
    "dish_pickup_counter",
    "soup_pickup_counter",
    "soup_pickup_pot",
    "onion_place_counter",
    "tomato_place_counter",
    "dish_place_counter",
    "soup_place_counter",
    "useful_onion_pickup",
    "useful_tomato_pickup",
    "useful_dish_pickup",
    "useful_onion_drop",
    "useful_tomato_drop",
    "useful_dish_drop",
    "potting_onion",
    "potting_tomato",
    "optimal_potting",
    "viable_potting",
    "catastrophic_potting",
    "useless_potting",
    "pot_start",
    "soup_delivery",
    "stay",
    "move",
    "bump",
    "idle_interact",
)
EVENT_INDEX: dict[str, int] = {name: i for i, name in enumerate(EVENT_NAMES)}
NUM_EVENTS = len(EVENT_NAMES)

# overcooked_ai's EVENT_TYPES expressed as sums of our events (used by the differential test).
# (tomato_pickup and useful_tomato_pickup differ: overcooked_ai does not log tomato-dispenser pickups.)
REFERENCE_EVENTS: dict[str, tuple[str, ...]] = {
    "onion_pickup": ("onion_pickup_dispenser", "onion_pickup_counter"),
    "useful_onion_pickup": ("useful_onion_pickup",),
    "onion_drop": ("onion_place_counter",),
    "useful_onion_drop": ("useful_onion_drop",),
    "potting_onion": ("potting_onion",),
    "tomato_drop": ("tomato_place_counter",),
    "useful_tomato_drop": ("useful_tomato_drop",),
    "potting_tomato": ("potting_tomato",),
    "dish_pickup": ("dish_pickup_dispenser", "dish_pickup_counter"),
    "useful_dish_pickup": ("useful_dish_pickup",),
    "dish_drop": ("dish_place_counter",),
    "useful_dish_drop": ("useful_dish_drop",),
    "soup_pickup": ("soup_pickup_counter", "soup_pickup_pot"),
    "soup_delivery": ("soup_delivery",),
    "soup_drop": ("soup_place_counter",),
}

# Who does what in the kitchen: the events a cook's *share* of says something about its job, in the order a
# soup is made, with how to say it (verb, plural, singular): "agent_0 pots 94% of the onions", "agent_1
# delivers every soup". The analysis reads it as the env's ``ROLE_EVENTS`` (descriptors and report).
ROLE_EVENTS: dict[str, tuple[str, str, str]] = {
    "onion_pickup_dispenser": ("fetches", "onions", "onion"),
    "potting_onion": ("pots", "onions", "onion"),
    "tomato_pickup_dispenser": ("fetches", "tomatoes", "tomato"),
    "potting_tomato": ("pots", "tomatoes", "tomato"),
    "pot_start": ("starts", "soups cooking", "soup cooking"),
    "dish_pickup_dispenser": ("fetches", "dishes", "dish"),
    "soup_pickup_pot": ("plates", "soups", "soup"),
    "soup_delivery": ("delivers", "soups", "soup"),
    "onion_place_counter": ("hands over", "onions left on counters", "onion left on a counter"),
    "dish_place_counter": ("hands over", "dishes left on counters", "dish left on a counter"),
    "soup_place_counter": ("hands over", "soups left on counters", "soup left on a counter"),
}
