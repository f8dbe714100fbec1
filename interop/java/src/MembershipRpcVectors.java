import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.ObjectStreamClass;

import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.group.RpcMessage;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.membership.StaticMember;
import org.apache.catalina.tribes.membership.StaticMembershipProvider;

/**
 * Membership tests: StaticMembershipService's RpcMessage(MemberMessage(StaticMember)) bytes.
 * {@code MembershipRpcVectors make HOST PORT UIDHEX TYPE RPCIDHEX UUIDHEX REPLY} prints SUIDs and the hex of
 * the serialized RpcMessage and of the embedded member packet;
 * {@code MembershipRpcVectors read HEX} deserializes and prints the fields.
 */
public class MembershipRpcVectors {
    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    static byte[] unhex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int k = 0; k < b.length; k++) {
            b[k] = (byte) Integer.parseInt(h.substring(2 * k, 2 * k + 2), 16);
        }
        return b;
    }

    public static void main(String[] args) throws Exception {
        System.out.println("SUID_STATICMEMBER " + ObjectStreamClass.lookup(StaticMember.class).getSerialVersionUID());
        System.out.println("SUID_MEMBERIMPL " + ObjectStreamClass.lookup(MemberImpl.class).getSerialVersionUID());
        System.out.println("SUID_RPCMESSAGE " + ObjectStreamClass.lookup(RpcMessage.class).getSerialVersionUID());
        if (args[0].equals("make")) {
            StaticMember m = new StaticMember(args[1], Integer.parseInt(args[2]), 0);
            m.setUniqueId(unhex(args[3]));
            StaticMembershipProvider.MemberMessage mm = new StaticMembershipProvider.MemberMessage(unhex(args[5]),
                    Integer.parseInt(args[4]), m);
            RpcMessage r = new RpcMessage(unhex(args[5]), unhex(args[6]), mm);
            if (Boolean.parseBoolean(args[7])) {
                java.lang.reflect.Field f = RpcMessage.class.getDeclaredField("reply");
                f.setAccessible(true);
                f.setBoolean(r, true);
            }
            ByteArrayOutputStream bos = new ByteArrayOutputStream();
            try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
                out.writeObject(r);
            }
            System.out.println("RPC " + hex(bos.toByteArray()));
        } else {
            try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(unhex(args[1])))) {
                RpcMessage r = (RpcMessage) in.readObject();
                java.lang.reflect.Field fr = RpcMessage.class.getDeclaredField("reply");
                fr.setAccessible(true);
                java.lang.reflect.Field fm = RpcMessage.class.getDeclaredField("message");
                fm.setAccessible(true);
                java.lang.reflect.Field fu = RpcMessage.class.getDeclaredField("uuid");
                fu.setAccessible(true);
                java.lang.reflect.Field fi = RpcMessage.class.getDeclaredField("rpcId");
                fi.setAccessible(true);
                StaticMembershipProvider.MemberMessage mm = (StaticMembershipProvider.MemberMessage) fm.get(r);
                Member m = mm.getMember();
                System.out.println("READ reply=" + fr.getBoolean(r) + " uuid=" + hex((byte[]) fu.get(r)) + " rpcId="
                        + hex((byte[]) fi.get(r)) + " type=" + mm.getMsgtype() + " membershipId="
                        + hex(mm.getMembershipId()) + " class=" + m.getClass().getName() + " host=" + hex(m.getHost())
                        + " port=" + m.getPort() + " uid=" + hex(m.getUniqueId()) + " alive=" + m.getMemberAliveTime());
            }
        }
    }
}
