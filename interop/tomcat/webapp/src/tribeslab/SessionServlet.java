package tribeslab;

// Source template: @SERVLET@ becomes "jakarta" (Tomcat 10.1) or "javax" (Tomcat 9.0) at build time
// (interop/tomcat/node.py build_webapp).

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.reflect.Field;
import java.security.Principal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;

import @SERVLET@.servlet.ServletContext;
import @SERVLET@.servlet.http.HttpServlet;
import @SERVLET@.servlet.http.HttpServletRequest;
import @SERVLET@.servlet.http.HttpServletResponse;
import @SERVLET@.servlet.http.HttpSession;

import org.apache.catalina.Context;
import org.apache.catalina.Manager;
import org.apache.catalina.Session;
import org.apache.catalina.ha.ClusterManager;
import org.apache.catalina.ha.ClusterMessage;
import org.apache.catalina.ha.session.DeltaManager;
import org.apache.catalina.ha.session.SessionMessage;
import org.apache.catalina.ha.session.SessionMessageImpl;
import org.apache.catalina.tribes.Channel;

/**
 * Session endpoints of the interop web app. Every answer is one JSON object.
 *
 * /ping                          {"ok":true,"node":jvmRoute,"context":path}
 * /set?name=&type=&value=        type: string int long bool double bytes(hex) list(a,b) map(k=v,k=v) bean(text:count)
 * /get?name=                     {"id","name","type","value"}  (404 {"error":"no session"} without a session)
 * /remove?name=                  removes the attribute
 * /dump                          session metadata + every attribute (type, value)
 * /maxinactive?seconds=          setMaxInactiveInterval
 * /create?n=&prefix=&sync=&replicate=  n sessions through the Manager (sync=1: acked, ordered; replicate=0: local only)
 * /sessions?limit=               the Manager's sessions: count and ids
 * /peek?id=                      a session by id via the Manager (no cookie: no access, no jvmRoute rename)
 * /invalidate                    invalidates the session
 * /changeid                      request.changeSessionId()
 * /secure/whoami                 FORM-login protected: remote user, session id
 */
public class SessionServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    static String q(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20 || c > 0x7e) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    static byte[] unhex(String h) {
        byte[] out = new byte[h.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    static Object parse(String type, String value) {
        switch (type) {
            case "string": return value;
            case "int": return Integer.valueOf(value);
            case "long": return Long.valueOf(value);
            case "bool": return Boolean.valueOf(value);
            case "double": return Double.valueOf(value);
            case "bytes": return unhex(value);
            case "list": return new ArrayList<>(value.isEmpty() ? Collections.<String>emptyList() : Arrays.asList(value.split(",")));
            case "map": {
                HashMap<String, String> m = new HashMap<>();
                for (String kv : value.split(",")) {
                    if (!kv.isEmpty()) {
                        int i = kv.indexOf('=');
                        m.put(kv.substring(0, i), kv.substring(i + 1));
                    }
                }
                return m;
            }
            case "bean": {
                int i = value.lastIndexOf(':');
                return i < 0 ? new Bean(value, 0) : new Bean(value.substring(0, i), Integer.parseInt(value.substring(i + 1)));
            }
            default: throw new IllegalArgumentException("unknown type " + type
                    + " (string int long bool double bytes list map bean)");
        }
    }

    static String render(Object v) {
        if (v instanceof byte[]) {
            return hex((byte[]) v);
        }
        return String.valueOf(v);
    }

    static String attrJson(String name, Object v) {
        return "{\"name\":" + q(name) + ",\"type\":" + q(v == null ? null : v.getClass().getName()) + ",\"value\":"
                + q(render(v)) + "}";
    }

    /** The Catalina Context behind a ServletContext (ApplicationContextFacade -> ApplicationContext -> StandardContext). */
    static Context catalinaContext(ServletContext sc) throws Exception {
        Object o = sc;
        for (int i = 0; i < 2; i++) {
            Field f = o.getClass().getDeclaredField("context");
            f.setAccessible(true);
            o = f.get(o);
        }
        return (Context) o;
    }

    String jvmRoute() {
        return System.getProperty("tribeslab.node", "");
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setContentType("application/json");
        resp.setCharacterEncoding("UTF-8");
        resp.setHeader("Cache-Control", "no-store");
        String path = req.getServletPath() + (req.getPathInfo() == null ? "" : req.getPathInfo());
        StringBuilder out = new StringBuilder();
        int status = 200;
        try {
            status = handle(path, req, resp, out);
        } catch (Exception e) {
            status = 500;
            out.setLength(0);
            out.append("{\"error\":").append(q(e.toString())).append("}");
        }
        resp.setStatus(status);
        PrintWriter w = resp.getWriter();
        w.print(out);
        w.flush();
    }

    int noSession(StringBuilder out) {
        out.append("{\"error\":\"no session\"}");
        return 404;
    }

    int handle(String path, HttpServletRequest req, HttpServletResponse resp, StringBuilder out) throws Exception {
        String name = req.getParameter("name");
        switch (path) {
            case "/ping": {
                out.append("{\"ok\":true,\"node\":").append(q(jvmRoute())).append(",\"context\":")
                        .append(q(req.getContextPath())).append(",\"server\":").append(q(getServletContext().getServerInfo()))
                        .append("}");
                return 200;
            }
            case "/set": {
                HttpSession s = req.getSession(true);
                String type = req.getParameter("type") == null ? "string" : req.getParameter("type");
                String value = req.getParameter("value") == null ? "" : req.getParameter("value");
                Object v = parse(type, value);
                s.setAttribute(name, v);
                out.append("{\"id\":").append(q(s.getId())).append(",\"isNew\":").append(s.isNew()).append(",\"attribute\":")
                        .append(attrJson(name, v)).append("}");
                return 200;
            }
            case "/get": {
                HttpSession s = req.getSession(false);
                if (s == null) {
                    return noSession(out);
                }
                Object v = s.getAttribute(name);
                out.append("{\"id\":").append(q(s.getId())).append(",\"present\":").append(v != null).append(",\"name\":")
                        .append(q(name)).append(",\"type\":").append(q(v == null ? null : v.getClass().getName()))
                        .append(",\"value\":").append(q(v == null ? null : render(v))).append("}");
                return 200;
            }
            case "/remove": {
                HttpSession s = req.getSession(false);
                if (s == null) {
                    return noSession(out);
                }
                s.removeAttribute(name);
                out.append("{\"id\":").append(q(s.getId())).append(",\"removed\":").append(q(name)).append("}");
                return 200;
            }
            case "/dump": {
                HttpSession s = req.getSession(false);
                if (s == null) {
                    return noSession(out);
                }
                Principal p = req.getUserPrincipal();
                out.append("{\"id\":").append(q(s.getId())).append(",\"node\":").append(q(jvmRoute()))
                        .append(",\"creationTime\":").append(s.getCreationTime()).append(",\"lastAccessedTime\":")
                        .append(s.getLastAccessedTime()).append(",\"maxInactiveInterval\":").append(s.getMaxInactiveInterval())
                        .append(",\"isNew\":").append(s.isNew()).append(",\"user\":").append(q(p == null ? null : p.getName()))
                        .append(",\"attributes\":[");
                List<String> names = Collections.list(s.getAttributeNames());
                Collections.sort(names);
                for (int i = 0; i < names.size(); i++) {
                    out.append(i > 0 ? "," : "").append(attrJson(names.get(i), s.getAttribute(names.get(i))));
                }
                out.append("]}");
                return 200;
            }
            case "/maxinactive": {
                HttpSession s = req.getSession(false);
                if (s == null) {
                    return noSession(out);
                }
                s.setMaxInactiveInterval(Integer.parseInt(req.getParameter("seconds")));
                out.append("{\"id\":").append(q(s.getId())).append(",\"maxInactiveInterval\":")
                        .append(s.getMaxInactiveInterval()).append("}");
                return 200;
            }
            case "/create": {
                // sync=1 (default): like DeltaManager.createSession + the ReplicationValve, but both messages
                // with USE_ACK|SYNCHRONIZED_ACK, so every node has the session before its delta arrives
                // (with channelSendOptions=8 the MessageDispatchInterceptor's thread pool may reorder them, and a
                // delta for a session the receiver does not know yet is dropped).
                // sync=0: Tomcat's own path (manager.createSession(null), cluster's channelSendOptions).
                int n = Integer.parseInt(req.getParameter("n") == null ? "1" : req.getParameter("n"));
                String prefix = req.getParameter("prefix") == null ? "v" : req.getParameter("prefix");
                boolean sync = !"0".equals(req.getParameter("sync"));
                boolean replicate = !"0".equals(req.getParameter("replicate")); // 0: local only (state transfer tests)
                Manager m = catalinaContext(getServletContext()).getManager();
                List<String> ids = new ArrayList<>();
                int opts = Channel.SEND_OPTIONS_USE_ACK | Channel.SEND_OPTIONS_SYNCHRONIZED_ACK;
                for (int i = 0; i < n; i++) {
                    Session cs;
                    if (!replicate && m instanceof DeltaManager) {
                        cs = ((DeltaManager) m).createSession(null, false);
                    } else if (sync && m instanceof DeltaManager) {
                        DeltaManager dm = (DeltaManager) m;
                        cs = dm.createSession(null, false);
                        String id = cs.getIdInternal();
                        SessionMessage msg = new SessionMessageImpl(dm.getName(), SessionMessage.EVT_SESSION_CREATED, null,
                                id, id + "-" + System.currentTimeMillis());
                        msg.setTimestamp(cs.getCreationTime());
                        dm.getCluster().send(msg, null, opts);
                    } else {
                        cs = m.createSession(null);
                    }
                    HttpSession hs = cs.getSession();
                    hs.setAttribute("index", Integer.valueOf(i));
                    hs.setAttribute("text", prefix + i);
                    if (!replicate && m instanceof ClusterManager) {
                        ((ClusterManager) m).requestCompleted(cs.getIdInternal()); // reset the delta, send nothing
                    } else if (m instanceof ClusterManager) { // what ReplicationValve does at the end of a request
                        ClusterManager cm = (ClusterManager) m;
                        ClusterMessage msg = cm.requestCompleted(cs.getIdInternal());
                        if (msg != null) {
                            if (sync) {
                                cm.getCluster().send(msg, null, opts);
                            } else {
                                cm.getCluster().send(msg);
                            }
                        }
                    }
                    if (ids.size() < 20) {
                        ids.add(cs.getIdInternal());
                    }
                }
                out.append("{\"created\":").append(n).append(",\"first\":[");
                for (int i = 0; i < ids.size(); i++) {
                    out.append(i > 0 ? "," : "").append(q(ids.get(i)));
                }
                out.append("]}");
                return 200;
            }
            case "/sessions": {
                int limit = Integer.parseInt(req.getParameter("limit") == null ? "1000" : req.getParameter("limit"));
                Manager m = catalinaContext(getServletContext()).getManager();
                Session[] all = m.findSessions();
                out.append("{\"node\":").append(q(jvmRoute())).append(",\"manager\":").append(q(m.getClass().getName()))
                        .append(",\"count\":").append(all.length).append(",\"ids\":[");
                for (int i = 0; i < Math.min(limit, all.length); i++) {
                    out.append(i > 0 ? "," : "").append(q(all[i].getIdInternal()));
                }
                out.append("]}");
                return 200;
            }
            case "/peek": { // a session by id through the Manager: no cookie, no access, no jvmRoute rename
                Manager m = catalinaContext(getServletContext()).getManager();
                Session cs = m.findSession(req.getParameter("id"));
                if (cs == null) {
                    out.append("{\"error\":\"no session\",\"id\":").append(q(req.getParameter("id"))).append("}");
                    return 404;
                }
                HttpSession s = cs.getSession();
                Principal p = cs.getPrincipal();
                List<String> names;
                try {
                    names = cs.isValid() ? Collections.list(s.getAttributeNames()) : null;
                } catch (IllegalStateException expiredMeanwhile) {
                    names = null;
                }
                if (names == null) {
                    out.append("{\"error\":\"no session\",\"invalid\":true,\"id\":").append(q(cs.getIdInternal()))
                            .append("}");
                    return 404;
                }
                out.append("{\"id\":").append(q(cs.getIdInternal())).append(",\"node\":").append(q(jvmRoute()))
                        .append(",\"valid\":").append(cs.isValid()).append(",\"maxInactiveInterval\":")
                        .append(cs.getMaxInactiveInterval()).append(",\"user\":").append(q(p == null ? null : p.getName()))
                        .append(",\"attributes\":[");
                Collections.sort(names);
                for (int i = 0; i < names.size(); i++) {
                    Object v;
                    try {
                        v = s.getAttribute(names.get(i));
                    } catch (IllegalStateException expiredMeanwhile) {
                        v = null;
                    }
                    out.append(i > 0 ? "," : "").append(attrJson(names.get(i), v));
                }
                out.append("]}");
                return 200;
            }
            case "/invalidate": {
                HttpSession s = req.getSession(false);
                if (s == null) {
                    return noSession(out);
                }
                String id = s.getId();
                s.invalidate();
                out.append("{\"invalidated\":").append(q(id)).append("}");
                return 200;
            }
            case "/changeid": {
                HttpSession s = req.getSession(false);
                if (s == null) {
                    return noSession(out);
                }
                String old = s.getId();
                String now = req.changeSessionId();
                out.append("{\"old\":").append(q(old)).append(",\"id\":").append(q(now)).append("}");
                return 200;
            }
            default:
                if (path.startsWith("/secure/")) {
                    HttpSession s = req.getSession(false);
                    out.append("{\"user\":").append(q(req.getRemoteUser())).append(",\"id\":")
                            .append(q(s == null ? null : s.getId())).append(",\"node\":").append(q(jvmRoute())).append("}");
                    return 200;
                }
                out.append("{\"error\":").append(q("no endpoint " + path)).append("}");
                return 404;
        }
    }
}
