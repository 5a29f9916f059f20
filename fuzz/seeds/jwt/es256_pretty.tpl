{"alg": "ES256", "typ": "application/jwt"}
{
 "iss": "https://idp.example.com/realms/test",
 "aud": "client-1",
 "sub": "user-1",
 "exp": 1700000600,
 "iat": 1699999990,
 "nbf": 1699999990,
 "auth_time": 1699999980,
 "jti": "jti-1",
 "nonce": "n-0S6_WzA2Mj",
 "email": "alice@example.com",
 "email_verified": "true",
 "name": "Alice Example",
 "given_name": "Alice",
 "family_name": "Example",
 "groups": "a b",
 "oid": "00000000-0000-0000-0000-000000000001",
 "tid": "t1",
 "roles": [
  "r1"
 ],
 "_claim_names": {
  "groups": "src1"
 }
}