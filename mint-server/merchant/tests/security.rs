//! The merchant trusts only its bank's signatures and refuses to start on
//! anything it could not trust; its pages carry a strict policy; item pages
//! store nothing; other sites cannot make orders; links come from its
//! configured public URL, never from request headers; bad input is a JSON
//! 4xx. The bank runs in this process; the merchant in it or as its binary.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;
use ecash_core::api::{self, Endpoint, Method, RequestBody};
use ecash_core::client::{HttpRequest, HttpResponse};
use ecash_core::clock::SystemClock;
use ecash_core::messages::{DepositAck, PayReq};
use ecash_core::shop::{NewOrder, OrderState};
use ecash_core::{ErrorCode, Keypair, Signed};
use ecash_serve::security::API_CSP;
use ecash_testkit::client::error_of;
use ecash_testkit::process::refuses_to_start;
use ecash_testkit::proxy::Proxy;
use ecash_testkit::{InProcMerchant, InProcMint, MerchantProc, Shop, refused};
use merchant::http::pages::SHOP_CSP;

fn mint() -> InProcMint {
    InProcMint::start(&["--max-denomination-exp", "8"], Arc::new(SystemClock))
}

fn merchant(mint: &InProcMint, args: &[&str]) -> InProcMerchant {
    InProcMerchant::start(mint, args, Arc::new(SystemClock))
}

/// How many orders the shop keeper's list shows.
fn orders(shop: &Shop, m: &InProcMerchant) -> usize {
    shop.orders(&m.admin_token).expect("list").orders.len()
}

// ------------------------------------------------------------ trust

/// A merchant pinned to another master key does not start: the bank's key
/// set does not verify. Neither as a process nor in one.
#[test]
fn a_merchant_pinned_to_another_key_refuses_to_start() {
    let mint = mint();
    let other = Keypair::generate().expect("rng").public().0.to_b64();
    let err = refuses_to_start(
        "merchant",
        &["--bank-url", &mint.url, "--bank-master-key", &other],
    );
    assert!(err.contains("does not verify"), "{err}");
    // In a process of its own: the error says which check failed.
    let dir = tempfile::tempdir().expect("tmp");
    let config = merchant::config::Config::try_parse_from([
        "merchant",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
        "--bank-url",
        &mint.url,
        "--bank-master-key",
        &other,
    ])
    .expect("flags");
    let r =
        actix_web::rt::System::new().block_on(merchant::serve(config, Arc::new(SystemClock), None));
    assert!(
        matches!(
            r,
            Err(merchant::ServeError::Bank(
                merchant::bank::BankLinkError::KeySet(_)
            ))
        ),
        "{r:?}"
    );
    // Pinned to the right key, the same flags start it.
    let good = MerchantProc::start(&mint.url, &mint.master, &[]);
    assert!(!good.account_id.is_empty());
}

/// Without a master key, or with flags that are not what they claim, the
/// merchant stops before it serves.
#[test]
fn the_merchant_refuses_to_start_on_flags_it_cannot_trust() {
    let err = refuses_to_start("merchant", &["--bank-url", "http://127.0.0.1:9"]);
    assert!(err.contains("--bank-master-key"), "{err}");
    let err = refuses_to_start(
        "merchant",
        &[
            "--bank-url",
            "http://127.0.0.1:9",
            "--bank-master-key",
            "not-a-key",
        ],
    );
    assert!(err.contains("--bank-master-key"), "{err}");
    let mint = mint();
    let master = mint.master.0.to_b64();
    let pinned = |extra: &[&str], bank: &str| -> String {
        let mut args = vec!["--bank-url", bank, "--bank-master-key", &master];
        args.extend_from_slice(extra);
        refuses_to_start("merchant", &args)
    };
    for bad in [
        "javascript:alert(1)",
        "ftp://bank.example",
        "https://bank.example/path",
        "https://user:pw@bank.example",
        "not a url",
    ] {
        let err = pinned(&[], bad);
        assert!(err.contains("--bank-url"), "{bad}: {err}");
    }
    for (flag, bad) in [
        ("--order-origin", "javascript:alert(1)"),
        ("--order-origin", "https://store.example/path"),
        ("--order-origin", "https://x.example; script-src *"),
        ("--wallet-url", "javascript:alert(1)"),
        ("--wallet-url", "https://wallet.example/?q"),
        ("--public-url", "javascript:alert(1)"),
        ("--public-url", "https://shop.example/path"),
    ] {
        let err = pinned(&[flag, bad], &mint.url);
        assert!(err.contains(flag), "{flag} {bad}: {err}");
    }
    for ttl in ["0", "3601"] {
        let err = pinned(&["--payreq-ttl-secs", ttl], &mint.url);
        assert!(err.contains("--payreq-ttl-secs"), "{ttl}: {err}");
    }
}

/// A party between merchant and bank that forges the deposit ack (another
/// key's signature, a broken one, or the bank's genuine ack of another
/// payment): the shop answers `internal`, delivers no goods and does not
/// mark the order paid; once the bank's own answer comes through, the same
/// payment completes.
#[test]
fn a_forged_deposit_ack_delivers_nothing() {
    let mint = mint();
    let mode = Arc::new(AtomicU8::new(0));
    let genuine: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
    let forger = Arc::new(Keypair::generate().expect("rng"));
    let (m, g, f) = (mode.clone(), genuine.clone(), forger.clone());
    let deposit_path = api::Deposit::INFO.path;
    let proxy = Proxy::start(
        0,
        mint.url.strip_prefix("http://").expect("http"),
        Some(Arc::new(move |path: &str, body: &mut Vec<u8>| {
            if path != deposit_path {
                return;
            }
            let Ok(mut ack) = serde_json::from_slice::<Signed<DepositAck>>(body) else {
                return;
            };
            match m.load(Ordering::SeqCst) {
                // The first genuine ack is kept, to replay for another payment.
                0 => {
                    let mut kept = g.lock().expect("lock");
                    if kept.is_none() {
                        *kept = Some(body.clone());
                    }
                    return;
                }
                1 => ack = Signed::sign(ack.body, &f),
                2 => ack.signature.0.0[7] ^= 0x20,
                _ => {
                    *body = g.lock().expect("lock").clone().expect("a genuine ack");
                    return;
                }
            }
            *body = serde_json::to_vec(&ack).expect("json");
        })),
    );
    let merchant = InProcMerchant::start_at(
        &proxy.url,
        &mint.master,
        &["--settle-every-secs", "3600"],
        Arc::new(SystemClock),
    );
    let shop = merchant.client();
    let bank = mint.client();
    let buyer = bank.register("buyer");
    bank.faucet(&buyer, 1000);
    // A genuine ack passes (and is kept for later).
    let first = shop.order("haiku");
    let (_, payment) = bank.pay_from(&buyer, &first);
    shop.pay(&first.payreq_id, &payment).expect("a genuine ack");
    assert!(genuine.lock().expect("lock").is_some());

    for forgery in 1..=3u8 {
        mode.store(forgery, Ordering::SeqCst);
        let payreq = shop.order("notes");
        let (coins, payment) = bank.pay_from(&buyer, &payreq);
        assert_eq!(
            refused(shop.pay(&payreq.payreq_id, &payment)),
            (500, ErrorCode::Internal),
            "forgery {forgery}"
        );
        // The bank did take the coins (the ack was forged on the way back) ...
        assert!(bank.spent(&coins).iter().all(|s| *s));
        // ... but the shop gives nothing for an ack it cannot check.
        assert_eq!(
            refused(shop.goods(&payreq.payreq_id, bank.goods_key(&payment))),
            (400, ErrorCode::PayreqInvalid),
            "forgery {forgery}"
        );
        let list = shop.orders(&merchant.admin_token).expect("list");
        let state = list
            .orders
            .iter()
            .find(|o| o.payreq_id == payreq.payreq_id)
            .map(|o| o.state);
        assert_eq!(state, Some(OrderState::Paying), "forgery {forgery}");
        assert_eq!(
            list.paid,
            u64::from(forgery),
            "forgery {forgery}: only the orders before are paid"
        );
        // With the bank's own answer the same payment completes the order.
        mode.store(0, Ordering::SeqCst);
        let resp = shop
            .pay(&payreq.payreq_id, &payment)
            .expect("the bank's ack");
        resp.deposit_ack.verify(&mint.master).expect("genuine");
        shop.goods(&payreq.payreq_id, bank.goods_key(&payment))
            .expect("goods");
    }
}

// ------------------------------------------------------------ pages

/// Every page and file of the shop carries its policy (images may be
/// inline, `data:`: the goods); every JSON answer and error one that lets
/// nothing load and nothing frame it.
#[test]
fn every_page_and_file_carries_the_shops_policy() {
    for part in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self';",
        "img-src 'self' data:;",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(SHOP_CSP.contains(part), "the shop's CSP lacks {part}");
    }
    assert!(!SHOP_CSP.contains("unsafe"), "{SHOP_CSP}");
    let mint = mint();
    let merchant = merchant(&mint, &[]);
    let shop = merchant.client();
    let http = shop.http();
    let order = shop.order("haiku");
    let id = order.payreq_id.as_str();
    let pages = [
        http.send_with::<api::CataloguePage>(&(), &(), &[]),
        http.send_with::<api::ItemPage>("haiku", &(), &[]),
        http.send_with::<api::OrderPage>(id, &(), &[]),
        http.send_with::<api::FulfillmentPage>(id, &(), &[]),
        http.send_with::<api::OrdersPage>(&(), &(), &[]),
    ];
    let mut files = vec!["money.js".to_owned()];
    for page in &pages {
        assert_eq!(page.status, 200);
        assert!(
            page.header("content-type")
                .is_some_and(|t| t.starts_with("text/html"))
        );
        assert_eq!(page.header("content-security-policy"), Some(SHOP_CSP));
        let html = String::from_utf8_lossy(&page.body);
        assert!(
            !html.contains("<script>") && !html.contains("<style") && !html.contains("style="),
            "inline script or style: {html}"
        );
        // The files the pages load.
        let prefix = api::Asset::path("");
        for piece in html.split(prefix.as_str()).skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            if !files.contains(&name) {
                files.push(name);
            }
        }
    }
    for want in ["style.css", "fulfillment.js", "orders.js"] {
        assert!(
            files.iter().any(|f| f == want),
            "{want} not loaded: {files:?}"
        );
    }
    for name in &files {
        let r = http.send_with::<api::Asset>(name, &(), &[]);
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(
            r.header("content-security-policy"),
            Some(SHOP_CSP),
            "{name}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{name}"
        );
    }
    let missing = http.send_with::<api::Asset>("nothing.js", &(), &[]);
    assert_eq!(error_of(&missing).1.code, ErrorCode::NotFound);
    // JSON answers, and errors, load and frame nothing.
    let json = [
        http.send_with::<api::Items>(&(), &(), &[]),
        http.send_with::<api::PayreqApi>(id, &(), &[]),
        http.send_with::<api::OpenApi>(&(), &(), &[]),
        missing,
        http.send_with::<api::PayreqApi>("no-such-order", &(), &[]),
        http.probe(Method::Get, "/no/such/path"),
    ];
    for r in &json {
        assert_eq!(r.header("content-security-policy"), Some(API_CSP));
        assert_eq!(API_CSP, "default-src 'none'; frame-ancestors 'none'");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
    // Odd spellings of a page's path get a policy too, whatever answers.
    for path in [
        api::ItemPage::path("haiku").replacen("/item", "/%69tem", 1),
        api::ItemPage::path("ha%69ku"),
        format!("{}/", api::CataloguePage::path(&())),
    ] {
        let r = http.probe(Method::Get, &path);
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp == SHOP_CSP || csp == API_CSP,
            "{path}: {} {csp}",
            r.status
        );
    }
}

/// Finding 10: looking at item pages stores nothing; an order is made by
/// POST, and only from the shop's own pages.
#[test]
fn item_pages_store_no_orders_and_other_sites_cannot_order() {
    let mint = mint();
    let merchant = merchant(&mint, &[]);
    let shop = merchant.client();
    let http = shop.http();
    let before = orders(&shop, &merchant);
    for _ in 0..25 {
        let r = http.send_with::<api::ItemPage>("haiku", &(), &[]);
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        orders(&shop, &merchant),
        before,
        "a crawler filled the order book"
    );
    let form =
        |headers: &[(&'static str, &str)]| http.send_with::<api::OrderItem>("haiku", &(), headers);
    assert_eq!(form(&[]).status, 303);
    assert_eq!(orders(&shop, &merchant), before + 1);
    // Another site's form cannot make orders.
    for header in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
        ("origin", "null"),
    ] {
        let r = form(&[header]);
        assert_eq!(
            (r.status, error_of(&r).1.code),
            (400, ErrorCode::MalformedRequest),
            "{header:?}"
        );
    }
    assert_eq!(orders(&shop, &merchant), before + 1);
    // The shop's own pages can.
    assert_eq!(form(&[("sec-fetch-site", "same-origin")]).status, 303);
    assert_eq!(form(&[("origin", &merchant.url)]).status, 303);
    assert_eq!(orders(&shop, &merchant), before + 3);
    // Nor another site's script, through the JSON route.
    let new = NewOrder {
        item_id: "haiku".into(),
    };
    let r = http.send_with::<api::NewOrderApi>(&(), &new, &[("sec-fetch-site", "cross-site")]);
    assert_eq!(r.status, 400);
    let r = http.send_with::<api::NewOrderApi>(&(), &new, &[("origin", "https://evil.example")]);
    assert_eq!(r.status, 400);
    assert_eq!(orders(&shop, &merchant), before + 3);
    // A program (no browser headers) can.
    shop.order("haiku");
    assert_eq!(orders(&shop, &merchant), before + 4);
}

/// Finding 10: a storefront on another origin makes orders only when the
/// operator names it (`--order-origin`); any other site is refused.
#[test]
fn only_named_origins_make_orders_from_other_sites() {
    let mint = mint();
    let merchant = merchant(&mint, &["--order-origin", "https://store.example"]);
    let shop = merchant.client();
    let http = shop.http();
    let new = NewOrder {
        item_id: "haiku".into(),
    };
    let order = |origin: &str| {
        http.send_with::<api::NewOrderApi>(
            &(),
            &new,
            &[("origin", origin), ("sec-fetch-site", "cross-site")],
        )
        .status
    };
    let before = orders(&shop, &merchant);
    assert_eq!(order("https://store.example"), 201);
    assert_eq!(order("https://evil.example"), 400);
    assert_eq!(order("https://store.example.evil.example"), 400);
    assert_eq!(order("http://store.example"), 400);
    let form = http.send_with::<api::OrderItem>(
        "haiku",
        &(),
        &[
            ("origin", "https://store.example"),
            ("sec-fetch-site", "cross-site"),
        ],
    );
    assert_eq!(form.status, 303);
    assert_eq!(orders(&shop, &merchant), before + 2);
}

/// Finding 8: payment links come from the configured public URL, never
/// from `Host`, `X-Forwarded-*` or `Forwarded` headers.
#[test]
fn payment_links_come_from_the_public_url_never_from_headers() {
    let hostile: &[(&'static str, &str)] = &[
        ("host", "evil.example"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "host=evil.example;proto=https"),
    ];
    let new = NewOrder {
        item_id: "haiku".into(),
    };
    let order = |http: &ecash_testkit::client::Http| -> PayReq {
        let r = http.send_with::<api::NewOrderApi>(&(), &new, hostile);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        serde_json::from_slice(&r.body).expect("a payreq")
    };
    let mint = mint();
    // Without --public-url: the address it listens on.
    let plain = merchant(&mint, &[]);
    let p = order(&plain.client().http());
    assert_eq!(
        p.pay_url,
        ecash_core::client::join(&plain.url, &api::Pay::path(&p.payreq_id))
    );
    assert!(plain.url.starts_with("http://127.0.0.1:"));
    // With it: links on it, whatever the request says.
    let public = MerchantProc::start(
        &mint.url,
        &mint.master,
        &[
            "--public-url",
            "https://shop.example",
            "--wallet-url",
            "https://wallet.example",
        ],
    );
    assert_eq!(public.url(), "https://shop.example");
    let http = ecash_testkit::client::Http::connect(&public.proc.local_url());
    let p = order(&http);
    assert_eq!(
        p.pay_url,
        format!("https://shop.example{}", api::Pay::path(&p.payreq_id))
    );
    assert_eq!(
        p.fulfillment_url,
        format!(
            "https://shop.example{}",
            api::FulfillmentPage::path(&p.payreq_id)
        )
    );
    let page = http.send_with::<api::OrderPage>(&p.payreq_id, &(), hostile);
    let html = String::from_utf8_lossy(&page.body);
    let payreq_url = format!("https://shop.example{}", api::PayreqApi::path(&p.payreq_id));
    let enc =
        percent_encoding::utf8_percent_encode(&payreq_url, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    assert!(
        html.contains(&format!("href='https://wallet.example/#payreq={enc}'")),
        "{html}"
    );
    let form = http.send_with::<api::OrderItem>("haiku", &(), hostile);
    assert_eq!(form.status, 303);
    for text in [
        html.as_ref(),
        form.header("location").unwrap_or_default(),
        &p.pay_url,
        &p.fulfillment_url,
    ] {
        assert!(!text.contains("evil"), "{text}");
    }
}

/// Garbage to every JSON endpoint of the shop is a JSON 4xx and changes
/// nothing: no order made, none paid.
#[test]
fn garbage_to_every_endpoint_is_a_json_4xx() {
    let mint = mint();
    let merchant = merchant(&mint, &[]);
    let shop = merchant.client();
    let http = shop.http();
    let order = shop.order("haiku");
    let before = shop.orders(&merchant.admin_token).expect("list");
    let posts: Vec<_> = api::infos(api::merchant)
        .into_iter()
        .filter(|i| i.body == RequestBody::Json)
        .collect();
    assert!(
        posts.iter().any(|i| i.path == api::Pay::INFO.path),
        "{posts:?}"
    );
    let mut rng = fastrand::Rng::with_seed(7);
    let shapes: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"{}".to_vec(),
        b"{\"item_id\":5}".to_vec(),
        b"{\"item_id\":\"no such item\"}".to_vec(),
        b"{\"payment_id\":\"AAAA\"}".to_vec(),
        b"{\"payment_info\":{},\"sealed_coins\":{}}".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        "{\"x\":\"\u{1F4B0}\"}".as_bytes().to_vec(),
    ];
    for info in posts {
        for target in [order.payreq_id.as_str(), "nope"] {
            let params: Vec<String> = info.params.iter().map(|_| target.to_owned()).collect();
            let url = ecash_core::client::join(&merchant.url, &api::fill_path(info.path, &params));
            for body in shapes
                .iter()
                .cloned()
                .chain((0..5).map(|_| (0..rng.usize(1..300)).map(|_| rng.u8(..)).collect()))
            {
                let resp: HttpResponse = http.send(HttpRequest {
                    method: info.method,
                    url: url.clone(),
                    headers: Vec::new(),
                    body: Some(("application/json", body.clone())),
                });
                let (status, _) = error_of(&resp);
                assert!(
                    (400..500).contains(&status),
                    "{} answered {status} to {:?}",
                    info.path,
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }
    assert_eq!(
        shop.orders(&merchant.admin_token).expect("list"),
        before,
        "garbage changed the order book"
    );
}
