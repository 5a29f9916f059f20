{"alg":"ES256"}
{"iss":"https://idp.example.com/realms/test","aud":"client-1","sub":"u","exp":1700000060,"iat":1700000000}