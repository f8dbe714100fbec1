import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;

import org.apache.catalina.ha.session.SessionMessage;
import org.apache.catalina.ha.session.SessionMessageImpl;

/**
 * Membership tests' check of the NOCONTEXTMANAGER reply: {@code MembershipSessionMsg CTX [HEX...]}
 * prints the hex of Tomcat's own serialized NOCONTEXTMANAGER and GET_ALL messages for CTX, then
 * for every HEX argument deserializes it and prints "evt|context|sessionId|uniqueId|timestamp".
 */
public class MembershipSessionMsg {
    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    static byte[] ser(Object o) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            out.writeObject(o);
        }
        return bos.toByteArray();
    }

    public static void main(String[] args) throws Exception {
        String ctx = args[0];
        SessionMessage nocm = new SessionMessageImpl(ctx, SessionMessage.EVT_ALL_SESSION_NOCONTEXTMANAGER, null,
                "NO-CONTEXT-MANAGER", "NO-CONTEXT-MANAGER-" + ctx);
        System.out.println("NOCM " + hex(ser(nocm)));
        SessionMessage getall = new SessionMessageImpl(ctx, SessionMessage.EVT_GET_ALL_SESSIONS, null, "GET-ALL",
                "GET-ALL-" + ctx);
        getall.setTimestamp(1234567L);
        System.out.println("GETALL " + hex(ser(getall)));
        for (int i = 1; i < args.length; i++) {
            byte[] b = new byte[args[i].length() / 2];
            for (int k = 0; k < b.length; k++) {
                b[k] = (byte) Integer.parseInt(args[i].substring(2 * k, 2 * k + 2), 16);
            }
            try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
                SessionMessage m = (SessionMessage) in.readObject();
                System.out.println("READ " + m.getEventType() + "|" + m.getContextName() + "|" + m.getSessionID() + "|"
                        + m.getUniqueId() + "|" + m.getTimestamp());
            }
        }
    }
}
