"""Opens and seals minga contacts with PyNaCl (libsodium), as a member with standard tools
would: the test shows minga's sealed contacts are plain libsodium sealed boxes.

  open SEED_HEX FILE   prints the contact sealed to the ed25519 key with this seed
  seal PUBKEY_HEX TEXT prints, in hex, TEXT sealed to that ed25519 public key's X25519 form
"""

import sys

from nacl.public import PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey


def boxes(data):
    assert data[:4] == b"mgc1", "not a sealed contact"
    count, at = data[4], 5
    for _ in range(count):
        recipient = data[at:at + 32]
        length = int.from_bytes(data[at + 32:at + 34], "big")
        yield recipient, data[at + 34:at + 34 + length]
        at += 34 + length


if sys.argv[1] == "open":
    me = SigningKey(bytes.fromhex(sys.argv[2]))
    data = open(sys.argv[3], "rb").read()
    for recipient, sealed in boxes(data):
        if recipient == bytes(me.verify_key):
            box = SealedBox(me.to_curve25519_private_key())
            print(box.decrypt(sealed).decode("utf-8"))
            break
    else:
        sys.exit("not sealed to this key")
elif sys.argv[1] == "seal":
    to = VerifyKey(bytes.fromhex(sys.argv[2])).to_curve25519_public_key()
    print(SealedBox(PublicKey(bytes(to))).encrypt(sys.argv[3].encode("utf-8")).hex())
