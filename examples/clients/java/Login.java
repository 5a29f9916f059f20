// jit_login from Java with JDBC (the PostgreSQL JDBC driver).
//
//   java -cp /usr/share/java/postgresql.jar:. Login JDBC_URL [TOKEN]   (or the token in $JIT_TOKEN)
//
// Prints one JSON line: the user, their groups and the notes that row-level
// security lets them see; or, for a refused token, the SQLSTATE and reason
// code (exit status 2).
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

public class Login {
    public static void main(String[] args) throws SQLException {
        String url = args.length > 0 ? args[0] : System.getenv("DATABASE_URL");
        // A token on the command line shows in `ps`; the environment does not.
        String token = args.length > 1 ? args[1] : System.getenv("JIT_TOKEN");
        String body = System.getenv().getOrDefault("NOTE", "hello from java");

        try (Connection conn = DriverManager.getConnection(url)) {
            // One transaction: the identity jit_login establishes lives exactly
            // as long as it, so login, insert and select must share it.
            conn.setAutoCommit(false);
            String userId;
            List<String> groups = new ArrayList<>();
            // A PreparedStatement sends the token as a bound parameter (the
            // driver switches to a named server-side statement after
            // prepareThreshold executions, 5 by default).
            try (PreparedStatement ps = conn.prepareStatement("select * from jit_login(?)")) {
                ps.setString(1, token);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    userId = rs.getString("user_id");
                    Array a = rs.getArray("groups");
                    for (String g : (String[]) a.getArray()) groups.add(g);
                }
            } catch (SQLException e) {
                conn.rollback();
                // SQLSTATE 28000: the token was refused. The server's primary
                // message starts with a stable reason code: "replayed: ...".
                if (!"28000".equals(e.getSQLState())) throw e;
                String message = primaryMessage(e);
                System.out.println("{\"sqlstate\":" + json(e.getSQLState())
                        + ",\"reason\":" + json(message.split(":", 2)[0])
                        + ",\"message\":" + json(message) + "}");
                System.exit(2);
                return;
            }
            // `owner` defaults to jit.current_user_id(); the policy checks it.
            try (PreparedStatement ps = conn.prepareStatement("insert into notes (body) values (?)")) {
                ps.setString(1, body);
                ps.executeUpdate();
            }
            StringBuilder notes = new StringBuilder();
            try (PreparedStatement ps = conn.prepareStatement("select owner, body from notes order by id");
                 ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    if (notes.length() > 0) notes.append(',');
                    notes.append("{\"owner\":").append(json(rs.getString("owner")))
                         .append(",\"body\":").append(json(rs.getString("body"))).append('}');
                }
            }
            conn.commit();

            StringBuilder gs = new StringBuilder();
            for (String g : groups) gs.append(gs.length() > 0 ? "," : "").append(json(g));
            System.out.println("{\"user_id\":" + json(userId) + ",\"groups\":[" + gs + "],\"notes\":[" + notes + "]}");
        }
    }

    // getMessage() may carry "Where:"/"Detail:" lines; the server's primary
    // message is the part that starts with the reason code.
    static String primaryMessage(SQLException e) {
        if (e instanceof org.postgresql.util.PSQLException) {
            org.postgresql.util.ServerErrorMessage m = ((org.postgresql.util.PSQLException) e).getServerErrorMessage();
            if (m != null && m.getMessage() != null) return m.getMessage();
        }
        return String.valueOf(e.getMessage());
    }

    // The JDK has no JSON writer; strings are all this program prints.
    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
