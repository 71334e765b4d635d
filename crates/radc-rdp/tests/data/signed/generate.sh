#!/bin/sh
# Regenerates the test CA, the signer certificate and every fixture here.
# Run from this directory: sh generate.sh
set -eu
SIGN="python3 ../../sign_rdp.py"

# Test CA and signer: RSA 2048, valid for 100 years.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 36500 \
  -subj "/O=radc tests/CN=radc test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca.key -out ca.pem
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/C=DE/O=Contoso Test/CN=Contoso RDP Publisher" \
  -keyout signer.key -out signer.csr
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning,serverAuth\nsubjectKeyIdentifier=hash\n' > signer.ext
openssl x509 -req -in signer.csr -CA ca.pem -CAkey ca.key -set_serial 0x1234567890 -days 36500 -sha256 \
  -extfile signer.ext -out signer.pem
rm signer.csr signer.ext

# Thumbprints as openssl prints them.
openssl x509 -in signer.pem -noout -fingerprint -sha1 > signer.sha1
openssl x509 -in signer.pem -noout -fingerprint -sha256 > signer.sha256

# Signed files.
$SIGN --cert signer.pem --key signer.key --chain ca.pem app.rdp app-sha256.rdp
$SIGN --cert signer.pem --key signer.key --md sha1 app.rdp app-sha1.rdp
$SIGN --cert signer.pem --key signer.key --no-attributes --no-wrap app.rdp app-noattr.rdp

# Tampered copies of app-sha256.rdp (UTF-16LE, so edit through Python).
python3 - <<'PY'
def load(name):
    return open(name, "rb").read()[2:].decode("utf-16-le")
def save(name, text):
    open(name, "wb").write(b"\xff\xfe" + text.encode("utf-16-le"))
text = load("app-sha256.rdp")
# A signed value changed.
save("tampered-value.rdp", text.replace("full address:s:rdsh1.contoso.test", "full address:s:evil.example.test", 1))
# One byte of the PKCS#7 signature value changed (a base64 character near the end).
head, sig = text.split("signature:s:")
i = len(sig.rstrip("\r\n")) - 40
while sig[i] == " ":
    i -= 1
save("tampered-signature.rdp", head + "signature:s:" + sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:])
# An unsigned setting added: still valid, but not covered.
save("added-setting.rdp", text + "username:s:CONTOSO\\mallory\r\n")
# The same signed file as UTF-16BE with a byte-order mark: the signature
# covers UTF-16LE text whatever the file's encoding, so it still verifies.
open("app-sha256-utf16be.rdp", "wb").write(b"\xfe\xff" + text.encode("utf-16-be"))
PY
