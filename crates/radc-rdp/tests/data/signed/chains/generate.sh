#!/bin/sh
# Regenerates the certificate chains here and the files they sign, for the
# tests of radc_rdp::publisher. Run from this directory: sh generate.sh
# Keys are thrown away: nothing needs them once the files are signed.
set -eu
SIGN="python3 ../../../sign_rdp.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# issue NAME ISSUER SUBJECT EXTENSIONS START END: a certificate NAME.pem
# (key in $T/NAME.key) issued by ISSUER (self-signed when ISSUER is -),
# valid from START to END (YYYYMMDDhhmmssZ), through `openssl ca` because
# only it takes arbitrary dates.
issue() {
  name=$1 issuer=$2 subject=$3 ext=$4 start=$5 end=$6
  openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "$subject" \
    -keyout "$T/$name.key" -out "$T/$name.csr" 2>/dev/null
  : > "$T/index.txt"
  printf '[ca]\ndefault_ca=ca\n[ca]\ndatabase=%s/index.txt\nnew_certs_dir=%s\nserial=%s/serial\ndefault_md=sha256\npolicy=any\nunique_subject=no\ncopy_extensions=none\n[any]\ncommonName=supplied\n[ext]\n%s\n' \
    "$T" "$T" "$T" "$ext" > "$T/ca.cnf"
  openssl rand -hex 8 > "$T/serial"
  if [ "$issuer" = - ]; then
    set -- -selfsign -keyfile "$T/$name.key"
  else
    set -- -cert "$issuer.pem" -keyfile "$T/$issuer.key"
  fi
  openssl ca -batch -config "$T/ca.cnf" -extensions ext -notext "$@" \
    -startdate "$start" -enddate "$end" -in "$T/$name.csr" -out "$name.pem" 2>/dev/null
}

CA='basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash'
leaf() {
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n%s' "$1"
}
FROM=20200101000000Z
TO=21200101000000Z

issue root - "/O=radc tests/CN=radc test root" "$CA" $FROM $TO
issue intermediate root "/O=radc tests/CN=radc test publishing CA" "$CA
authorityKeyIdentifier=keyid" $FROM $TO
issue publisher intermediate "/O=Contoso Test/CN=Contoso Verified Publisher" \
  "$(leaf extendedKeyUsage=codeSigning)" $FROM $TO
issue expired intermediate "/O=Contoso Test/CN=Contoso Expired Publisher" \
  "$(leaf extendedKeyUsage=codeSigning)" 20000101000000Z 20010101000000Z
issue mail intermediate "/O=Contoso Test/CN=Contoso Mail Certificate" \
  "$(leaf extendedKeyUsage=emailProtection,clientAuth)" $FROM $TO
issue stranger_root - "/O=Mallory/CN=radc test root" "$CA" $FROM $TO
issue stranger stranger_root "/O=Mallory/CN=Mallory Publisher" \
  "$(leaf extendedKeyUsage=codeSigning)" $FROM $TO

# The signed files. The chain carried is the intermediate (not the root),
# as a publisher would ship it; the stranger ships its own root, which
# must not make it verified.
for who in publisher expired mail; do
  $SIGN --cert $who.pem --key "$T/$who.key" --chain intermediate.pem ../app.rdp $who.rdp
done
$SIGN --cert stranger.pem --key "$T/stranger.key" --chain stranger_root.pem ../app.rdp stranger.rdp
# The intermediate left out: the chain cannot be built.
$SIGN --cert publisher.pem --key "$T/publisher.key" ../app.rdp publisher-alone.rdp
