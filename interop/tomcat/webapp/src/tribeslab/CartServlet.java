package tribeslab;

// Source template: @SERVLET@ becomes "jakarta" (Tomcat 10.1) or "javax" (Tomcat 9.0) at build time
// (interop/tomcat/node.py build_webapp).

import java.io.IOException;
import java.io.PrintWriter;
import java.security.Principal;
import java.util.ArrayList;
import java.util.List;

import @SERVLET@.servlet.http.HttpServlet;
import @SERVLET@.servlet.http.HttpServletRequest;
import @SERVLET@.servlet.http.HttpServletResponse;
import @SERVLET@.servlet.http.HttpSession;

/**
 * The shop pages of the web lab (HTML for a real browser):
 *
 * /shop/cart   (FORM login, role "shopper")  greets the user, lists the session attribute "cart"
 *              (a java.util.ArrayList of String); POST item=... adds one (a new list + setAttribute, so
 *              DeltaManager replicates it) and redirects back (303: post/redirect/get).
 * /logout      invalidates the session (logs out on every node) and redirects to /shop/cart, which
 *              then asks for the login again.
 *
 * Elements tests look for: #user, #roles, #node (this node's jvmRoute), #session, #cart li, form#add
 * with input#item and button#add-button, a#logout.
 */
public class CartServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    static String esc(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<': b.append("&lt;"); break;
                case '>': b.append("&gt;"); break;
                case '&': b.append("&amp;"); break;
                case '"': b.append("&quot;"); break;
                case '\'': b.append("&#39;"); break;
                default: b.append(c);
            }
        }
        return b.toString();
    }

    static String jvmRoute() {
        return System.getProperty("tribeslab.node", "");
    }

    @SuppressWarnings("unchecked")
    static List<String> cart(HttpSession s) {
        Object v = s.getAttribute("cart");
        List<String> out = new ArrayList<>();
        if (v instanceof List) {
            for (Object o : (List<Object>) v) {
                out.add(String.valueOf(o));
            }
        }
        return out;
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.setCharacterEncoding("UTF-8");
        resp.setHeader("Cache-Control", "no-store");
        String path = req.getServletPath() + (req.getPathInfo() == null ? "" : req.getPathInfo());
        String ctx = req.getContextPath();
        if (path.equals("/logout")) {
            HttpSession s = req.getSession(false);
            if (s != null) {
                s.invalidate();
            }
            resp.setStatus(303);
            resp.setHeader("Location", ctx + "/shop/cart");
            return;
        }
        if (!path.equals("/shop/cart")) {
            resp.sendError(404, "no page " + path);
            return;
        }
        HttpSession s = req.getSession(true);
        if ("POST".equals(req.getMethod())) {
            String item = req.getParameter("item");
            if (item != null && !item.trim().isEmpty()) {
                ArrayList<String> next = new ArrayList<>(cart(s));
                next.add(item.trim());
                s.setAttribute("cart", next);
            }
            resp.setStatus(303);
            resp.setHeader("Location", ctx + "/shop/cart");
            return;
        }
        Principal p = req.getUserPrincipal();
        StringBuilder roles = new StringBuilder();
        for (String r : new String[] {"shopper", "tribes", "admin"}) {
            if (req.isUserInRole(r)) {
                roles.append(roles.length() > 0 ? "," : "").append(r);
            }
        }
        List<String> items = cart(s);
        resp.setContentType("text/html");
        resp.setCharacterEncoding("UTF-8");
        PrintWriter w = resp.getWriter();
        w.println("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Cart (Tomcat " + esc(jvmRoute())
                + ")</title><style>body{font-family:sans-serif;margin:2em;background:#fdf6e3}"
                + "h1{color:#b58900}li{margin:.2em}</style></head><body>");
        w.println("<h1>Tomcat cart page</h1>");
        w.println("<p>Hello <b id=\"user\">" + esc(p == null ? "" : p.getName()) + "</b> (roles <span id=\"roles\">"
                + esc(roles.toString()) + "</span>, " + esc(req.getAuthType()) + ")</p>");
        w.println("<p>served by Tomcat node <b id=\"node\">" + esc(jvmRoute()) + "</b> ("
                + esc(getServletContext().getServerInfo()) + "), session <code id=\"session\">" + esc(s.getId())
                + "</code></p>");
        w.println("<h2>Cart (" + items.size() + " items)</h2><ul id=\"cart\">");
        for (String it : items) {
            w.println("<li>" + esc(it) + "</li>");
        }
        w.println("</ul>");
        w.println("<form id=\"add\" method=\"post\" action=\"" + esc(ctx) + "/shop/cart\">"
                + "<input id=\"item\" name=\"item\" placeholder=\"item\"> "
                + "<button id=\"add-button\" type=\"submit\">add to cart</button></form>");
        w.println("<p><a id=\"python\" href=\"" + esc(ctx) + "/py/\">the Python page</a> | "
                + "<a id=\"logout\" href=\"" + esc(ctx) + "/logout\">log out</a></p>");
        w.println("</body></html>");
        w.flush();
    }
}
