//! The merchant's checkout end to end, against a bank running in this
//! process: catalogue, an order made by the item page's form, the order
//! page's links to the wallet, a payment refused and one taken, the signed
//! receipt and ack, the goods; the shop keeper's list; and the served API
//! document against the description, every described route live.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use ecash_core::api::{self, AdminToken, Endpoint, Method};
use ecash_core::clock::SystemClock;
use ecash_core::messages::ProofRequest;
use ecash_core::shop::{GoodsKind, OrderState};
use ecash_core::{Clock, ErrorCode, Fixed};
use ecash_testkit::client::error_of;
use ecash_testkit::process::merchant_key;
use ecash_testkit::{
    Account, InProcMerchant, InProcMint, MerchantProc, Shop, SyncBank, TestClock, now, refused,
};
use merchant::http::pages::SHOP_CSP;

/// A payment request's URL as the order page puts it in a link.
fn encoded(url: &str) -> String {
    percent_encoding::utf8_percent_encode(url, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A bank in this process, a merchant process banking at it (its wallet
/// link pointing elsewhere), clients of both, and a buyer with 500.
struct Checkout {
    mint: InProcMint,
    merchant: MerchantProc,
    shop: Shop,
    bank: SyncBank,
    buyer: Account,
}

fn checkout() -> Checkout {
    let mint = InProcMint::start(&[], Arc::new(SystemClock));
    let merchant = MerchantProc::start(
        &mint.url,
        &mint.master,
        &["--wallet-url", "https://wallet.example"],
    );
    let shop = merchant.client();
    let bank = mint.client();
    let buyer = bank.register("buyer");
    bank.faucet(&buyer, 500);
    Checkout {
        mint,
        merchant,
        shop,
        bank,
        buyer,
    }
}

#[test]
fn the_catalogue_and_item_pages_make_an_order() {
    let Checkout {
        mint: _mint,
        merchant,
        shop,
        bank,
        ..
    } = checkout();
    // The catalogue, as data and as a page linking every item.
    let items = shop.items();
    assert!(items.len() >= 3);
    let item = |id: &str| items.iter().find(|i| i.id == id).expect("in the catalogue");
    let notes = item("notes");
    assert_eq!(
        (notes.price.value, notes.kind, &notes.price.currency),
        (150, GoodsKind::Text, &bank.currency())
    );
    assert_eq!(item("sticker").kind, GoodsKind::SvgImage);
    let page = shop
        .call::<api::CataloguePage>(&(), &())
        .expect("catalogue");
    for i in &items {
        assert!(page.contains(&api::ItemPage::path(&i.id)), "{page}");
    }

    // The item page orders by POST and shows no payment request.
    let html = shop.call::<api::ItemPage>("notes", &()).expect("item");
    assert!(html.contains("method=post"), "{html}");
    assert!(html.contains(&format!("action='{}'", api::OrderItem::path("notes"))));
    assert!(!html.contains("payreq"), "{html}");
    // Its form's POST answers 303 to the order page.
    let created = shop.http().send_with::<api::OrderItem>("notes", &(), &[]);
    assert_eq!(created.status, 303);
    let location = created.header("location").expect("location").to_owned();
    let prefix = api::OrderPage::path("");
    let id = location
        .strip_prefix(&prefix)
        .expect("a location on the order page")
        .to_owned();
    assert!(!id.is_empty());
    let payreq = shop.block_on(shop.shop.payreq(&id)).expect("payreq");
    assert_eq!(payreq.payreq_id, id);
    assert_eq!(payreq.amount, notes.price);
    assert!(payreq.description.starts_with(&notes.title));
    assert_eq!(payreq.merchant_acc_id, merchant.account_id);
    assert_eq!(payreq.merchant_bank_id, bank.keys.set.bank_id);
    let base = merchant.url();
    assert_eq!(
        payreq.pay_url,
        ecash_core::client::join(base, &api::Pay::path(&id))
    );
    assert_eq!(
        payreq.fulfillment_url,
        ecash_core::client::join(base, &api::FulfillmentPage::path(&id))
    );
    assert_eq!(payreq.expires_at - payreq.timestamp, 15 * 60);

    // The order page: the request's URL in the wallet link's fragment, and
    // a web+ecash: link.
    let html = shop.call::<api::OrderPage>(&id, &()).expect("order page");
    let enc = encoded(&shop.shop.payreq_url(&id));
    assert!(
        html.contains(&format!("href='https://wallet.example/#payreq={enc}'")),
        "{html}"
    );
    assert!(html.contains(&format!("href='web+ecash:{enc}'")), "{html}");
    assert!(html.contains("1.50 DEMO"), "{html}");
    assert_eq!(
        refused(shop.call::<api::OrderPage>("no-such-order", &())),
        (404, ErrorCode::NotFound)
    );

    // No goods before payment.
    assert_eq!(
        refused(shop.goods(&id, Fixed([1u8; 32]))),
        (400, ErrorCode::PayreqInvalid)
    );
}

#[test]
fn a_payment_buys_the_goods_with_a_signed_receipt() {
    let Checkout {
        mint,
        merchant,
        shop,
        bank,
        buyer,
    } = checkout();
    let items = shop.items();
    let notes = items.iter().find(|i| i.id == "notes").expect("notes");
    let payreq = shop.order("notes");
    let id = payreq.payreq_id.clone();
    let coins = bank.withdraw(&buyer, 150);
    // Wrong amount for the payreq: refused, coins untouched.
    let (short, _) = bank.payment(
        &coins[..1],
        &payreq.merchant_acc_id,
        &payreq.payreq_id,
        &payreq.description,
    );
    assert_eq!(
        refused(shop.pay(&id, &short)),
        (400, ErrorCode::PayreqInvalid)
    );
    // The right amount named, coins worth less: the bank's refusal passes
    // through and frees the order.
    let (light, _) = bank.payment_for(&payreq, &coins[..1]);
    assert_eq!(
        refused(shop.pay(&id, &light)),
        (400, ErrorCode::AmountMismatch)
    );
    assert!(bank.spent(&coins).iter().all(|s| !s), "coins untouched");

    let (payment, payer_code) = bank.payment_for(&payreq, &coins);
    let resp = shop.pay(&id, &payment).expect("pay");
    // The ack is the bank's, checked against its master key.
    resp.deposit_ack.verify(&mint.master).expect("bank ack");
    let ack = &resp.deposit_ack.body;
    assert_eq!(
        (
            ack.payment_id,
            ack.amount.value,
            ack.merchant_acc_id.as_str()
        ),
        (payment.payment_id(), 150, merchant.account_id.as_str())
    );
    // The receipt is the merchant's: its own key, the one its bank publishes.
    let key = merchant_key(&merchant.proc.data_dir());
    assert_eq!(resp.merchant_public_key, key.public());
    let published = bank
        .block_on(bank.bank.public_key(&merchant.account_id))
        .expect("the merchant's key at the bank");
    assert_eq!(published, key.public());
    resp.receipt
        .verify(&published)
        .expect("receipt signed by the shop");
    assert!(resp.receipt.verify(&mint.master).is_err());
    let receipt = &resp.receipt.body;
    assert_eq!(receipt.amount.value, 150);
    assert_eq!(receipt.transaction_id, id);
    assert_eq!(receipt.payment_id, payment.payment_id());
    assert_eq!(receipt.merchant_acc_id, merchant.account_id);
    assert_eq!(resp.fulfillment_url, payreq.fulfillment_url);
    // Paying again with the same payment returns the same answer, and
    // takes nothing more.
    assert_eq!(shop.pay(&id, &payment).expect("replay"), resp);
    assert!(bank.spent(&coins).iter().all(|s| *s));
    let me = Account {
        key,
        id: merchant.account_id.clone(),
    };
    assert_eq!(bank.balance(&me), 150);
    assert_eq!(bank.balance(&buyer), 350);

    // The goods, for the holder of the payment id.
    let goods = shop.goods(&id, bank.goods_key(&payment)).expect("goods");
    assert_eq!(
        (goods.kind, goods.title.as_str()),
        (GoodsKind::Text, notes.title.as_str())
    );
    assert!(goods.goods.contains("Ecash"), "{}", goods.goods);
    assert_eq!(goods.receipt, resp.receipt);
    assert_eq!(
        refused(shop.goods(&id, Fixed([1u8; 32]))),
        (404, ErrorCode::NotFound)
    );
    // The payer can prove the payment at the bank.
    let proof = bank
        .call::<api::Proof>(
            &(),
            &ProofRequest {
                payment_id: payment.payment_id(),
                payer_code: payer_code.into(),
            },
        )
        .expect("proof");
    proof.verify(&mint.master).expect("bank signed");
    assert_eq!(proof.body.payment_info, payment.payment_info);

    // The fulfillment page holds no goods: its script fetches them with
    // the payment id from the fragment, which the server never sees.
    let page = shop
        .call::<api::FulfillmentPage>(&id, &())
        .expect("fulfillment page");
    assert!(page.contains("Thank you") && page.contains(&id), "{page}");
    assert!(page.contains(&api::Asset::path("fulfillment.js")), "{page}");
    assert!(!page.contains(&goods.goods[..20]), "{page}");
    let script = shop
        .call::<api::Asset>("fulfillment.js", &())
        .expect("the script");
    assert!(script.contains("payment_id"), "{script}");
}

#[test]
fn the_sticker_is_an_image_and_the_log_names_no_payment() {
    let Checkout {
        mint: _mint,
        merchant,
        shop,
        bank,
        buyer,
    } = checkout();
    // The sticker's goods are an SVG image.
    let payreq = shop.order("sticker");
    let (_, payment) = bank.pay_from(&buyer, &payreq);
    shop.pay(&payreq.payreq_id, &payment).expect("pay");
    let goods = shop
        .goods(&payreq.payreq_id, bank.goods_key(&payment))
        .expect("goods");
    assert_eq!(goods.kind, GoodsKind::SvgImage);
    assert!(goods.goods.starts_with("<svg"), "{}", goods.goods);

    // Privacy: the merchant's log never names a payment.
    let log = merchant.proc.log();
    assert!(log.contains(&api::Pay::path(&payreq.payreq_id)), "{log}");
    for secret in [
        payment.payment_id().to_b64(),
        payment.payment_id().to_string(),
    ] {
        assert!(!log.contains(&secret), "a payment id in the log: {log}");
    }
    let me_balance = bank.balance(&Account {
        key: merchant_key(&merchant.proc.data_dir()),
        id: merchant.account_id.clone(),
    });
    assert_eq!(me_balance, 99);
}

#[test]
fn the_order_list_is_for_the_shop_keeper_only() {
    let clock = Arc::new(TestClock::at(now()));
    let mint = InProcMint::start(&[], clock.clone());
    let merchant = InProcMerchant::start(&mint, &["--payreq-ttl-secs", "600"], clock.clone());
    let shop = merchant.client();
    let bank = SyncBank::connect_on(&mint.url, &mint.master, clock.clone());
    let buyer = bank.register("buyer");
    bank.faucet(&buyer, 500);
    let http = shop.http();

    // No token, a wrong one, or the right one in another scheme: refused.
    let mut bare = http.request::<api::OrderListApi>(&(), &AdminToken(String::new()));
    bare.headers.clear();
    let (status, e) = error_of(&http.send(bare));
    assert_eq!((status, e.code), (401, ErrorCode::Unauthorized));
    assert_eq!(
        refused(shop.orders("wrong")),
        (401, ErrorCode::Unauthorized)
    );
    let basic = format!("Basic {}", merchant.admin_token);
    let mut other = http.request::<api::OrderListApi>(&(), &AdminToken(String::new()));
    other.headers.clear();
    other.headers.push((api::AUTHORIZATION_HEADER, basic));
    let (status, e) = error_of(&http.send(other));
    assert_eq!((status, e.code), (401, ErrorCode::Unauthorized));
    assert!(
        shop.orders(&merchant.admin_token)
            .expect("list")
            .orders
            .is_empty()
    );

    // Three orders, a second apart; the second is paid.
    let a = shop.order("haiku");
    clock.advance(1);
    let b = shop.order("notes");
    clock.advance(1);
    let c = shop.order("sticker");
    let (_, payment) = bank.pay_from(&buyer, &b);
    shop.pay(&b.payreq_id, &payment).expect("pay");
    let list = shop.orders(&merchant.admin_token).expect("list");
    let seen: Vec<(&str, OrderState)> = list
        .orders
        .iter()
        .map(|o| (o.payreq_id.as_str(), o.state))
        .collect();
    assert_eq!(
        seen,
        [
            (c.payreq_id.as_str(), OrderState::Open),
            (b.payreq_id.as_str(), OrderState::Paid),
            (a.payreq_id.as_str(), OrderState::Open),
        ],
        "newest first"
    );
    assert_eq!((list.paid, list.paid_value), (1, 150));
    let paid = &list.orders[1];
    assert_eq!(paid.paid_at, Some(clock.now()));
    assert_eq!((paid.item_id.as_str(), paid.amount.value), ("notes", 150));
    assert!(paid.title.starts_with("Lecture notes"), "{}", paid.title);
    assert_eq!(list.orders[0].created_at, clock.now());
    assert_eq!(list.orders[2].expires_at, clock.now() - 2 + 600);
    // Once their requests expire, the unpaid ones show it.
    clock.advance(601);
    let list = shop.orders(&merchant.admin_token).expect("list");
    let states: Vec<OrderState> = list.orders.iter().map(|o| o.state).collect();
    assert_eq!(
        states,
        [OrderState::Expired, OrderState::Paid, OrderState::Expired]
    );

    // The page is HTML under the shop's policy; its script reads the token
    // from the fragment, so the page itself knows none.
    let page = http.send_with::<api::OrdersPage>(&(), &(), &[]);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    assert_eq!(page.header("content-security-policy"), Some(SHOP_CSP));
    let html = String::from_utf8(page.body).expect("utf-8");
    assert!(html.contains(&api::Asset::path("orders.js")), "{html}");
    assert!(!html.contains(&merchant.admin_token));
    let script = shop.call::<api::Asset>("orders.js", &()).expect("script");
    assert!(script.contains("location.hash"), "{script}");
}

#[test]
fn the_served_api_document_is_the_description_and_every_route_is_live() {
    let mint = InProcMint::start(&["--max-denomination-exp", "2"], Arc::new(SystemClock));
    let merchant = InProcMerchant::start(&mint, &[], Arc::new(SystemClock));
    let shop = merchant.client();
    let doc = shop.call::<api::OpenApi>(&(), &()).expect("openapi");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        ecash_core::openapi::operations(&doc),
        ecash_core::openapi::described(api::merchant),
        "the served document is the description"
    );
    assert!(
        doc["paths"].get(api::Withdraw::INFO.path).is_none(),
        "no bank routes"
    );
    assert_eq!(
        shop.call::<api::Health>(&(), &()).expect("healthz").status,
        "ok"
    );
    // Every described route is live at its path with its method: filled
    // with things that exist, none may answer 404 or 405 (a handler's own
    // refusals of a request without its body or headers are 4xx else).
    let order = shop.order("haiku");
    let http = shop.http();
    for info in api::infos(api::merchant) {
        let values: Vec<String> = info
            .params
            .iter()
            .map(|p| match p.name {
                "item_id" => "haiku".to_owned(),
                "payreq_id" => order.payreq_id.clone(),
                "name" => "style.css".to_owned(),
                other => panic!("a parameter this test does not know: {other}"),
            })
            .collect();
        let path = api::fill_path(info.path, &values);
        let r = http.probe(info.method, &path);
        assert!(
            r.status != 405 && r.status != 404 && r.status < 500,
            "{} {path} is not routed: {} {}",
            info.method.as_str(),
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = http.probe(Method::Get, "/no/such/path");
    assert_eq!(r.status, 404);
    assert_eq!(error_of(&r).1.code, ErrorCode::NotFound);
    // The shop's old home under /shop is gone.
    let r = http.probe(
        Method::Get,
        &format!("/shop{}", api::ItemPage::path("haiku")),
    );
    assert_eq!(r.status, 404);
}
