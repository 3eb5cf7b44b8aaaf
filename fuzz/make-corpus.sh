#!/bin/sh
# Builds the seed corpus from the committed test fixtures (no openssl needed).
# Run from the repository root: sh fuzz/make-corpus.sh
set -eu
F=tests/fixtures
C=fuzz/corpus
rm -rf "$C"
mkdir -p "$C/pem_split" "$C/secret_analysis" "$C/admission_review" "$C/manifest_loader"

for f in chain/fullchain.pem chain/leaf.key keys/ec-p256-sec1.key keys/ec-p256-sec1-params.key \
         keys/ed25519.key keys/rsa-encrypted-legacy.key keys/rsa-pkcs1.key weak/md5.crt; do
  cp "$F/certs/$f" "$C/pem_split/$(echo "$f" | tr / -)"
done

# tls.crt NUL tls.key [NUL ca.crt]
pair() { # name crt key [ca]
  { cat "$F/certs/$2"; printf '\000'; cat "$F/certs/$3"
    if [ $# -gt 3 ]; then printf '\000'; cat "$F/certs/$4"; fi; } > "$C/secret_analysis/$1"
}
pair httpbin httpbin.example.com.crt httpbin.example.com.key
pair fullchain chain/fullchain.pem chain/leaf.key chain/root.crt
pair reversed chain/reversed.pem chain/leaf.key
pair mismatch example.com.crt httpbin.example.com.key
pair ed25519 keys/ed25519.crt keys/ed25519.key
pair ec-sec1-params keys/ec-p256-sec1-params.crt keys/ec-p256-sec1-params.key
pair rsa-pkcs1 keys/rsa-pkcs1.crt keys/rsa-pkcs1.key
pair encrypted keys/rsa-pkcs8.crt keys/rsa-encrypted-pkcs8.key
pair expired dated/expired-2021.crt dated/expired-2021.key

cp tests/admission/*.json "$C/admission_review/"

cp examples/broken-gateways.yaml examples/gateway-api.yaml examples/secure-gateway.yaml \
   "$F/secrets/httpbin-credential-tls.yaml" "$F/audit/cluster-dump.json" "$C/manifest_loader/"

# One YAML document a seed: the block-style reader (load::block) against yaml_serde.
mkdir -p "$C/yaml_block"
for f in examples/*.yaml "$F"/secrets/*.yaml manifests/base/*.yaml; do
  awk -v out="$C/yaml_block/$(basename "$f" | sed 's/\.yaml$//')" '
    /^---( |#|$)/ { n++; next } { print > (out "-" n ".yaml") }' n=0 "$f"
done
