import java.io.ByteArrayInputStream;
import java.io.ObjectInputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.Principal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.apache.catalina.Session;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.ha.session.DeltaManager;
import org.apache.catalina.ha.session.DeltaRequest;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.ha.session.SessionMessage;
import org.apache.catalina.realm.GenericPrincipal;

/**
 * Reads session payloads written by the Python node with Tomcat's own classes and prints what
 * Tomcat sees, one JSON object per line (tests/interop/test_sessions_java.py compares it).
 *
 * message FILE   ObjectInputStream.readObject -> SessionMessage (event, context, ids, timestamp, payload size)
 * sessions FILE  DeltaManager.deserializeSessions (ALL_SESSION_DATA): every session
 * delta FILE     DeltaRequest.readExternal + execute on a DeltaSession with that id
 */
public class SessionVectors {

    public static class Mgr extends DeltaManager {
        public void load(byte[] data) throws Exception { deserializeSessions(data); }
    }

    static String q(String s) {
        if (s == null) return "null";
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') sb.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.append('"').toString();
    }

    static String render(Object v) {
        if (v instanceof byte[]) {
            StringBuilder sb = new StringBuilder();
            for (byte b : (byte[]) v) sb.append(String.format("%02x", b & 0xff));
            return sb.toString();
        }
        return String.valueOf(v);
    }

    static Mgr manager() {
        StandardContext context = new StandardContext();
        context.setName("/app");
        context.setPath("/app");
        context.setDistributable(true);
        Mgr m = new Mgr();
        m.setContext(context);
        return m;
    }

    static String principal(Principal p) {
        if (p == null) return "null";
        String roles = "[]";
        if (p instanceof GenericPrincipal) {
            List<String> r = new ArrayList<>(Arrays.asList(((GenericPrincipal) p).getRoles()));
            Collections.sort(r);
            List<String> qr = new ArrayList<>();
            for (String x : r) qr.add(q(x));
            roles = "[" + String.join(",", qr) + "]";
        }
        return "{\"class\":" + q(p.getClass().getName()) + ",\"name\":" + q(p.getName()) + ",\"roles\":" + roles + "}";
    }

    static String session(DeltaSession s) {
        StringBuilder sb = new StringBuilder("{\"id\":" + q(s.getIdInternal()) + ",\"creationTime\":" + s.getCreationTimeInternal()
                + ",\"lastAccessedTime\":" + s.getLastAccessedTimeInternal() + ",\"maxInactiveInterval\":" + s.getMaxInactiveInterval()
                + ",\"isNew\":" + s.isNew() + ",\"principal\":" + principal(s.getPrincipal()) + ",\"authType\":" + q(s.getAuthType())
                + ",\"sessionIdNote\":" + q((String) s.getNote("org.apache.catalina.authenticator.SESSION_ID"))
                + ",\"attributes\":{");
        List<String> names = Collections.list(s.getAttributeNames());
        Collections.sort(names);
        for (int i = 0; i < names.size(); i++) {
            Object v = s.getAttribute(names.get(i));
            sb.append(i > 0 ? "," : "").append(q(names.get(i))).append(":{\"class\":").append(q(v.getClass().getName()))
              .append(",\"value\":").append(q(render(v))).append("}");
        }
        return sb.append("}}").toString();
    }

    public static void main(String[] args) throws Exception {
        byte[] data = Files.readAllBytes(Paths.get(args[1]));
        switch (args[0]) {
            case "message": {
                SessionMessage m = (SessionMessage) new ObjectInputStream(new ByteArrayInputStream(data)).readObject();
                System.out.println("{\"event\":" + m.getEventType() + ",\"eventString\":" + q(m.getEventTypeString())
                        + ",\"context\":" + q(m.getContextName()) + ",\"sessionId\":" + q(m.getSessionID())
                        + ",\"uniqueId\":" + q(m.getUniqueId()) + ",\"timestamp\":" + m.getTimestamp()
                        + ",\"payload\":" + (m.getSession() == null ? -1 : m.getSession().length) + "}");
                break;
            }
            case "sessions": {
                Mgr m = manager();
                m.load(data);
                List<Session> all = new ArrayList<>(Arrays.asList(m.findSessions()));
                all.sort((a, b) -> a.getIdInternal().compareTo(b.getIdInternal()));
                for (Session s : all) System.out.println(session((DeltaSession) s));
                break;
            }
            case "delta": {
                DeltaRequest dr = new DeltaRequest();
                dr.readExternal(new ObjectInputStream(new ByteArrayInputStream(data)));
                DeltaSession s = new DeltaSession(manager());
                s.setValid(true);
                s.setId(dr.getSessionId(), false);
                dr.execute(s, false);
                System.out.println(session(s));
                break;
            }
            default:
                throw new IllegalArgumentException("usage: message|sessions|delta FILE");
        }
    }
}
