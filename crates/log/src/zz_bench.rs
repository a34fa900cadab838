#[test]
fn zz_bench() {
    use std::time::Instant;
    use ed25519_dalek::{Signer, Verifier};
    let sk = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let vk = sk.verifying_key();
    let msg = b"log.example/verdict\n1048577\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let sig = sk.sign(msg);
    let n = 3000;
    let t = Instant::now();
    for _ in 0..n { vk.verify(msg, &sig).unwrap(); }
    eprintln!("dalek verify: {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let t = Instant::now();
    for _ in 0..n { vk.verify_strict(msg, &sig).unwrap(); }
    eprintln!("dalek verify_strict: {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let h = [1u8; 32];
    let t = Instant::now();
    let mut x = h;
    for _ in 0..n * 20 { x = crate::node_hash(&x, &h); }
    eprintln!("node hash: {:.3} us {:?}", t.elapsed().as_secs_f64() * 1e6 / (n * 20) as f64, x[0]);
    let key = crate::SigningKey::from_seed("log.example/verdict", [3; 32]).unwrap();
    let note = key.sign_note(std::str::from_utf8(msg).unwrap()).unwrap();
    let v = key.verifier();
    let t = Instant::now();
    for _ in 0..n { crate::open_note(&note, &v).unwrap(); }
    eprintln!("open_note: {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
