//! What the demo shop sells: a few digital goods.

use serde::Serialize;

/// One item for sale.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Stable id used in URLs.
    pub id: &'static str,
    /// Name.
    pub title: &'static str,
    /// One-line description (its hash goes into payment_info).
    pub description: &'static str,
    /// Price in minor units.
    pub price: u64,
    /// The goods, delivered after a valid deposit.
    #[serde(skip)]
    pub goods: &'static str,
}

/// The catalogue.
pub const ITEMS: &[Item] = &[
    Item {
        id: "haiku",
        title: "A haiku on blind signatures",
        description: "Seventeen syllables, signed unseen.",
        price: 25,
        goods: "The bank signs in fog —\nserial hidden, value clear.\nSpent once, then no more.",
    },
    Item {
        id: "notes",
        title: "Lecture notes: Chaum's Ecash",
        description: "A one-page summary of chapter 6.1: coins, keys, forgery, double spending.",
        price: 150,
        goods: "Ecash in one page: the wallet picks a large random serial, blinds it, the bank signs \
                with the key of the coin's value without seeing it, the wallet unblinds. A one-way \
                redundancy function on the serial defeats the S = R^e forgery. The bank keeps every \
                deposited serial; a second deposit is refused. Keys expire to keep that list small.",
    },
    Item {
        id: "sticker",
        title: "Sticker: 'I paid anonymously'",
        description: "An SVG sticker for your laptop.",
        price: 99,
        goods: "<svg xmlns='http://www.w3.org/2000/svg' width='240' height='60'><rect width='240' \
                height='60' rx='12' fill='#1b4d3e'/><text x='120' y='37' font-size='18' fill='#fff' \
                text-anchor='middle' font-family='sans-serif'>I paid anonymously</text></svg>",
    },
    Item {
        id: "coffee",
        title: "A coffee for the mint operator",
        description: "Keeps the mint signing through the night.",
        price: 300,
        goods: "Thank you! The mint operator raises a cup to your anonymity.",
    },
];

/// The item with this id.
pub fn item(id: &str) -> Option<&'static Item> {
    ITEMS.iter().find(|i| i.id == id)
}
